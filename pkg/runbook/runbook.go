// Package runbook renders the operations runbook's commands for one environment, so a report
// can hand the on-call engineer the exact command to run next, with names filled in. Where
// the runbook's text is wrong it is corrected here, and the correction is noted.
package runbook

import (
	"fmt"
	"strings"

	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/report"
)

// Commands builds commands for one environment's names.
type Commands struct{ C config.Config }

// DescribeService is the runbook's "Check ECS service events".
func (b Commands) DescribeService(service string) report.Command {
	return report.Command{Title: "Service state and last events", Cmd: fmt.Sprintf(
		"aws ecs describe-services --cluster %s --services %s \\\n  --query 'services[0].{desired:desiredCount,running:runningCount,pending:pendingCount,deployments:deployments,events:events[:5]}'",
		b.C.Cluster, service)}
}

// CrashLogs is the runbook's "Check recent logs for crash reason". The runbook writes the
// pattern as `fatal OR panic OR crash`, which is not CloudWatch filter syntax; `?a ?b ?c` is.
func (b Commands) CrashLogs(logGroup string) report.Command {
	return report.Command{Title: "Crash lines in the last hour", Cmd: fmt.Sprintf(
		"aws logs filter-log-events --log-group-name %s \\\n  --start-time $(date -u -d '1 hour ago' +%%s)000 --filter-pattern '?fatal ?panic ?crash'", logGroup)}
}

// ErrorLogs filters a log group for a pattern over a window in minutes.
func (b Commands) ErrorLogs(logGroup, pattern string, minutes int) report.Command {
	return report.Command{Title: fmt.Sprintf("Log lines matching %s (last %d min)", pattern, minutes), Cmd: fmt.Sprintf(
		"aws logs filter-log-events --log-group-name %s \\\n  --start-time $(date -u -d '%d minutes ago' +%%s)000 --filter-pattern '%s'", logGroup, minutes, pattern)}
}

// StoppedTasks is the runbook's "Check task failures", with the reasons shown.
func (b Commands) StoppedTasks(service string) report.Command {
	return report.Command{Title: "Why tasks stopped", Cmd: fmt.Sprintf(
		"aws ecs describe-tasks --cluster %[1]s --tasks $(aws ecs list-tasks --cluster %[1]s --service-name %[2]s --desired-status STOPPED --query 'taskArns[:10]' --output text) \\\n  --query 'tasks[].{stopped:stoppedAt,code:stopCode,reason:stoppedReason,exit:containers[].exitCode}'",
		b.C.Cluster, service)}
}

// QueueDepth is the runbook's MessageCount query. Amazon MQ for RabbitMQ publishes queue
// metrics with a VirtualHost dimension too; without it the runbook's query returns nothing.
func (b Commands) QueueDepth(queue string, minutes int) report.Command {
	return report.Command{Title: fmt.Sprintf("Queue depth of %s (last %d min)", queue, minutes), Cmd: fmt.Sprintf(
		"aws cloudwatch get-metric-statistics --namespace AWS/AmazonMQ --metric-name MessageCount \\\n  --dimensions Name=Broker,Value=%s Name=VirtualHost,Value=%s Name=Queue,Value=%s \\\n  --start-time $(date -u -d '%d minutes ago' +%%Y-%%m-%%dT%%H:%%M:%%SZ) --end-time $(date -u +%%Y-%%m-%%dT%%H:%%M:%%SZ) \\\n  --period 60 --statistics Average",
		b.C.Broker, b.C.VirtualHost, queue, minutes)}
}

// ServiceMetric is the runbook's memory/CPU trend query.
func (b Commands) ServiceMetric(service, metric string, minutes, period int) report.Command {
	return report.Command{Title: fmt.Sprintf("%s of %s (last %d min)", metric, service, minutes), Cmd: fmt.Sprintf(
		"aws cloudwatch get-metric-statistics --namespace AWS/ECS --metric-name %s \\\n  --dimensions Name=ClusterName,Value=%s Name=ServiceName,Value=%s \\\n  --start-time $(date -u -d '%d minutes ago' +%%Y-%%m-%%dT%%H:%%M:%%SZ) --end-time $(date -u +%%Y-%%m-%%dT%%H:%%M:%%SZ) \\\n  --period %d --statistics Average Maximum",
		metric, b.C.Cluster, service, minutes, period)}
}

// ForceNewDeployment is the runbook's "Force Service Restart".
func (b Commands) ForceNewDeployment(service string) report.Command {
	return report.Command{Title: "Restart " + service + " (rolling)", Cmd: fmt.Sprintf(
		"aws ecs update-service --cluster %s --service %s --force-new-deployment", b.C.Cluster, service)}
}

// Scale is the runbook's "Scale Services".
func (b Commands) Scale(service string, n int) report.Command {
	return report.Command{Title: fmt.Sprintf("Scale %s to %d", service, n), Cmd: fmt.Sprintf(
		"aws ecs update-service --cluster %s --service %s --desired-count %d", b.C.Cluster, service, n)}
}

// Rollback is the runbook's "Rollback" with the revision chosen.
func (b Commands) Rollback(service, taskDefinition string) report.Command {
	return report.Command{Title: "Roll back " + service + " to " + short(taskDefinition), Cmd: fmt.Sprintf(
		"aws ecs update-service --cluster %s --service %s --task-definition %s", b.C.Cluster, service, short(taskDefinition))}
}

// ListRevisions is the runbook's "Find previous task definition".
func (b Commands) ListRevisions(family string) report.Command {
	return report.Command{Title: "Recent revisions of " + family, Cmd: fmt.Sprintf(
		"aws ecs list-task-definitions --family-prefix %s --sort DESC --max-items 5", family)}
}

// RaiseMemory registers a copy of a task definition with more memory and deploys it: the
// runbook's "Increase memory in task definition", spelled out.
func (b Commands) RaiseMemory(service, taskDefinition string, mib int) report.Command {
	return report.Command{Title: fmt.Sprintf("Raise %s task memory to %d MiB", service, mib), Cmd: fmt.Sprintf(
		"aws ecs describe-task-definition --task-definition %[1]s --query taskDefinition \\\n"+
			"  | jq '.memory = \"%[2]d\" | del(.taskDefinitionArn,.revision,.status,.requiresAttributes,.compatibilities,.registeredAt,.registeredBy)' > /tmp/td.json \\\n"+
			"  && aws ecs register-task-definition --cli-input-json file:///tmp/td.json --query taskDefinition.taskDefinitionArn \\\n"+
			"  && aws ecs update-service --cluster %[3]s --service %[4]s --task-definition %[5]s",
		short(taskDefinition), mib, b.C.Cluster, service, family(taskDefinition))}
}

// NetworkChecks lists the VPC checks the runbook means by "Check VPC/security groups".
func (b Commands) NetworkChecks(subnets, securityGroups []string) []report.Command {
	var out []report.Command
	if len(securityGroups) > 0 {
		out = append(out, report.Command{Title: "Security groups (outbound 443 must be allowed)", Cmd: fmt.Sprintf(
			"aws ec2 describe-security-groups --group-ids %s --query 'SecurityGroups[].{id:GroupId,egress:IpPermissionsEgress}'", strings.Join(securityGroups, " "))})
	}
	if len(subnets) > 0 {
		out = append(out, report.Command{Title: "Routes of the task subnets (NAT gateway or VPC endpoints needed)", Cmd: fmt.Sprintf(
			"aws ec2 describe-route-tables --filters Name=association.subnet-id,Values=%s --query 'RouteTables[].Routes'", strings.Join(subnets, ","))})
	}
	return out
}

// RabbitSecret is how the runbook reaches the management console.
func (b Commands) RabbitSecret() report.Command {
	return report.Command{Title: "RabbitMQ management URL", Cmd: fmt.Sprintf(
		"aws secretsmanager get-secret-value --secret-id %s --query SecretString --output text | jq -r .management_url", b.C.RabbitSecret)}
}

// SlowQueries is the runbook's slow-query SQL, with clock_timestamp() (now() is the start of
// the transaction, which hides long-running statements in a long transaction).
func (b Commands) SlowQueries() report.Command {
	return report.Command{Title: "Slow queries (run as a role with pg_read_all_stats)", Cmd: "SELECT pid, clock_timestamp() - query_start AS duration, state, left(query, 200)\n" +
		"FROM pg_stat_activity WHERE state <> 'idle' AND clock_timestamp() - query_start > interval '5 seconds'\nORDER BY duration DESC;"}
}

// KillSwitch shows how to stop every automatic action at once.
func (b Commands) KillSwitch() report.Command {
	return report.Command{Title: "Stop all automatic remediation now (kill switch)", Cmd: fmt.Sprintf(
		"aws ssm put-parameter --name %s --value on --overwrite", b.C.KillSwitchParam)}
}

func short(ref string) string { return ref[strings.LastIndex(ref, "/")+1:] }

func family(ref string) string {
	s := short(ref)
	if i := strings.LastIndex(s, ":"); i > 0 {
		return s[:i]
	}
	return s
}
