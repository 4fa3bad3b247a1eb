// Package trust answers "can we trust the functions' judgement?" with numbers read from the
// incident record, not from prose.
//
// Agreement (Judge) is decided when an incident closes: each action the functions took (done)
// or would have taken (dry-run) is compared with what happened to its target between the
// incident's opening and its close, as ECS (deployments, service events, desired count) and the
// dead-letter queue's moves show it (read from its depth in CloudWatch: nothing consumes a DLQ,
// so each drop is messages moved out, MovesFromDepths). The verdicts:
//
//   - agreed: for a done action, nobody else changed the target and the incident recovered;
//     for a dry-run action, someone else made a change of the same kind to the same target
//     (a restart for force-new-deployment, a rollback for rollback, a deployment of a newer
//     revision for raise-task-memory, a desired-count change for scale-service, messages moved
//     out of the DLQ for replay and park).
//   - other: someone else changed the target and (for a dry-run) nothing they did was of the
//     action's kind; the changes say what they did (restart, scale to N, rollback to a revision,
//     moved N messages).
//   - nothing-recovered: a dry-run action, nobody changed the target, and the incident
//     recovered: the action would not have been needed.
//   - unknown: the evidence cannot tell, with the reason. Every ambiguity lands here, never in
//     agreed: the target's history could not be read, the incident kept no baseline of the
//     service, a deployment is seen only in service events (ECS forgets completed
//     deployments, so what it deployed is not known), a deployment by someone else was
//     created within AmbiguityGap of one of ours, one of our done actions cannot be matched to
//     its own deployment, the desired count changed on a service we scaled ourselves, or the
//     incident closed at its maximum age without recovering.
//
// Our own changes are recognised by time and kind: a done action's entry is written after the
// change, so its deployment (or move) was created in the OwnLag before the entry, and it must
// be of the action's kind. Failed and skipped actions are not judged: they changed nothing the
// functions vouch for.
//
// The digest (Digest) computes the effectiveness numbers over the incidents of a period, and
// Coverage says which runbook steps are automated, offered for approval, or left to a person.
package trust
