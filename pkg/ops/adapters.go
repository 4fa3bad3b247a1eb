package ops

import (
	"context"
	"time"

	"github.com/arrakis/gp-remediation/pkg/brokerdb"
	"github.com/arrakis/gp-remediation/pkg/config"
	"github.com/arrakis/gp-remediation/pkg/dlq"
	"github.com/arrakis/gp-remediation/pkg/pg"
	"github.com/arrakis/gp-remediation/pkg/rabbit"
)

// BrokerQueues reads queues through the RabbitMQ management API, with the credentials and
// virtual host of the environment's rabbit secret. Its counts lag the broker by one
// statistics interval (about 5 s), which a health report and a drain check can afford.
type BrokerQueues struct {
	Conns brokerdb.Connections
}

var _ Queues = BrokerQueues{}

// Queue implements Queues.
func (b BrokerQueues) Queue(ctx context.Context, name string) (QueueStatus, error) {
	m, err := b.Conns.Management(ctx)
	if err != nil {
		return QueueStatus{}, err
	}
	vhost, err := b.Conns.VirtualHost(ctx)
	if err != nil {
		return QueueStatus{}, err
	}
	q, err := m.Queue(ctx, vhost, name)
	if err != nil {
		return QueueStatus{}, err
	}
	return QueueStatus{Name: q.Name, Ready: q.Ready, Unacked: q.Unacked, Consumers: q.Consumers}, nil
}

// DatabaseSlowQueries lists the statements running longer than Over (the runbook's 5 s) with
// the database secret's credentials, on a connection opened and closed per call.
type DatabaseSlowQueries struct {
	Conns brokerdb.Connections
	Over  time.Duration // default 5 s
	Limit int           // default 10
}

var _ SlowQueries = DatabaseSlowQueries{}

// SlowQueries implements SlowQueries.
func (d DatabaseSlowQueries) SlowQueries(ctx context.Context) (pg.SlowQueryReport, error) {
	db, err := d.Conns.Database(ctx)
	if err != nil {
		return pg.SlowQueryReport{}, err
	}
	defer db.Close(context.WithoutCancel(ctx))
	over, limit := d.Over, d.Limit
	if over <= 0 {
		over = 5 * time.Second
	}
	if limit <= 0 {
		limit = 10
	}
	return db.SlowQueries(ctx, over, limit)
}

// BrokerDLQ replays the environment's DLQ over AMQP as the dlq function does (dlq.Playbook's
// Act): the same no-loss protocol (confirms, mandatory, ack only after a positive confirm),
// the same peek safety (the management API's queue type; GPR_DLQ_ASSUME_CLASSIC when it cannot
// be read) and per-message limit (GPR_MAX_REPLAYS_PER_MESSAGE), each message of the class to
// the queue it died in and never to the DLQ itself (dlq.ClassSelector). A connection per call.
type BrokerDLQ struct {
	Conns  brokerdb.Connections
	Config config.Config
}

var _ DLQ = BrokerDLQ{}

// Replay implements DLQ.
func (b BrokerDLQ) Replay(ctx context.Context, class rabbit.Class, max int) (rabbit.ReplayResult, error) {
	c, err := b.Conns.Broker(ctx)
	if err != nil {
		return rabbit.ReplayResult{DLQ: b.Config.DLQ}, err
	}
	defer c.Close()
	req := dlq.ReplayRequest(ctx, b.Config, b.Conns)
	req.Select, req.MaxPerRun = dlq.ClassSelector(class, b.Config.DLQ), max
	return c.Replay(ctx, req)
}

// Inspect implements DLQ: the DLQ's ready and consumer counts from a passive declare over
// AMQP, exact at the moment (the management API's lag a statistics interval).
func (b BrokerDLQ) Inspect(ctx context.Context) (rabbit.QueueState, error) {
	c, err := b.Conns.Broker(ctx)
	if err != nil {
		return rabbit.QueueState{Name: b.Config.DLQ}, err
	}
	defer c.Close()
	return c.Inspect(ctx, b.Config.DLQ)
}
