package pg

// Integration tests against the real PostgreSQL on this machine (127.0.0.1:5432, trust auth,
// superuser postgres; GPR_TEST_PG_HOST / GPR_TEST_PG_PORT override). Each test makes its
// own database and roles and drops them. `go test -short` skips them; otherwise a missing
// server fails them, with the command that starts it.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func testServer(t *testing.T) (host string, port int) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL; skipped with -short")
	}
	host, port = "127.0.0.1", 5432
	if h := os.Getenv("GPR_TEST_PG_HOST"); h != "" {
		host = h
	}
	if p, err := strconv.Atoi(os.Getenv("GPR_TEST_PG_PORT")); err == nil {
		port = p
	}
	return host, port
}

// admin connects as the superuser to db.
func admin(t *testing.T, db string) *pgx.Conn {
	t.Helper()
	host, port := testServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, fmt.Sprintf("host=%s port=%d user=postgres dbname=%s sslmode=disable application_name=gpr-test-admin", host, port, db))
	if err != nil {
		t.Fatalf("PostgreSQL not reachable at %s:%d (start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start): %v", host, port, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func unique(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func exec(t *testing.T, conn *pgx.Conn, sql string) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// newDatabase creates a database for this test (dropped at the end, sessions and all).
func newDatabase(t *testing.T, options string) string {
	t.Helper()
	a := admin(t, "postgres")
	name := unique("gpr_test_")
	exec(t, a, "CREATE DATABASE "+name+" "+options)
	t.Cleanup(func() {
		if _, err := a.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return name
}

// newRole creates a login role with the given extra options (dropped at the end).
func newRole(t *testing.T, options string) string {
	t.Helper()
	a := admin(t, "postgres")
	name := unique("gpr_role_")
	exec(t, a, "CREATE ROLE "+name+" LOGIN "+options)
	t.Cleanup(func() {
		ctx := context.Background()
		a.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", name)
		if _, err := a.Exec(ctx, "DROP ROLE IF EXISTS "+name); err != nil {
			t.Errorf("drop role %s: %v", name, err)
		}
	})
	return name
}

func secretFor(t *testing.T, user, db string) Secret {
	host, port := testServer(t)
	return Secret{Host: host, Port: port, Username: user, Password: password, DBName: db, SSLMode: "disable"}
}

func connect(t *testing.T, user, db string) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Connect(ctx, secretFor(t, user, db), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// sleeper is a session running a long statement whose text holds data that must be masked.
type sleeper struct {
	pid  uint32
	done chan error
}

const sleeperSQL = "SELECT pg_sleep(30), 'card 4111-1111-1111-1111' AS note, 31337 AS account"

func startSleeper(t *testing.T, user, db string) *sleeper {
	t.Helper()
	host, port := testServer(t)
	conn, err := pgx.Connect(context.Background(), fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable application_name=gpr-test-sleeper", host, port, user, db))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &sleeper{pid: conn.PgConn().PID(), done: make(chan error, 1)}
	go func() {
		// The simple protocol sends the text as is, literals included, as an application would.
		_, err := conn.Exec(ctx, sleeperSQL, pgx.QueryExecModeSimpleProtocol)
		s.done <- err
	}()
	t.Cleanup(func() {
		cancel() // pgx sends a cancel request; the statement ends at once
		<-s.done
		conn.Close(context.Background())
	})
	return s
}

// waitListed polls SlowQueries until the sleeper shows up (it needs to be running for longer
// than over), or gives up after a generous bound.
func waitListed(t *testing.T, c *Client, s *sleeper, over time.Duration) (SlowQueryReport, SlowQuery) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		rep, err := c.SlowQueries(context.Background(), over, 50)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range rep.Queries {
			if uint32(q.PID) == s.pid {
				return rep, q
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("sleeper pid %d never listed; last report %+v", s.pid, rep)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestSlowQueriesListsALongStatement(t *testing.T) {
	db := newDatabase(t, "")
	s := startSleeper(t, "postgres", db)
	c := connect(t, "postgres", db)

	rep, q := waitListed(t, c, s, 500*time.Millisecond)
	if q.Duration < 500*time.Millisecond || q.Duration > time.Minute || q.TransactionAge < q.Duration {
		t.Errorf("duration %s, transaction age %s", q.Duration, q.TransactionAge)
	}
	if q.State != "active" || q.WaitEventType != "Timeout" || q.WaitEvent != "PgSleep" || q.BackendType != "client backend" {
		t.Errorf("state %q wait %q/%q backend %q", q.State, q.WaitEventType, q.WaitEvent, q.BackendType)
	}
	if q.Database != db || q.User != "postgres" || q.Application != "gpr-test-sleeper" || len(q.BlockedBy) != 0 {
		t.Errorf("database %q user %q application %q blocked by %v", q.Database, q.User, q.Application, q.BlockedBy)
	}
	if want := "SELECT pg_sleep(?), ? AS note, ? AS account"; q.Query != want {
		t.Errorf("query %q, want %q", q.Query, want)
	}
	if !rep.Visibility.Complete || !rep.Visibility.Superuser || rep.Visibility.HiddenSessions != 0 || rep.Visibility.HiddenByDatabase != nil || rep.Visibility.Role != "postgres" || rep.Visibility.Note != "" {
		t.Errorf("visibility %+v", rep.Visibility)
	}
	own := c.conn.PID()
	for _, q := range rep.Queries {
		if uint32(q.PID) == own {
			t.Error("our own session is listed")
		}
	}

	// Over a threshold longer than it has run, it is not listed.
	long, err := c.SlowQueries(context.Background(), time.Hour, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range long.Queries {
		if uint32(q.PID) == s.pid {
			t.Errorf("listed over an hour after running %s", q.Duration)
		}
	}
}

func TestSlowQueriesLimitAndOrder(t *testing.T) {
	db := newDatabase(t, "")
	var sleepers []*sleeper
	for range 3 {
		sleepers = append(sleepers, startSleeper(t, "postgres", db))
		time.Sleep(50 * time.Millisecond) // distinct start times, so the order is defined
	}
	c := connect(t, "postgres", db)
	waitListed(t, c, sleepers[2], 200*time.Millisecond)

	rep, err := c.SlowQueries(context.Background(), 200*time.Millisecond, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Queries) != 2 || rep.Total < 3 {
		t.Fatalf("%d listed of %d, want 2 of at least 3", len(rep.Queries), rep.Total)
	}
	if rep.Queries[0].Duration < rep.Queries[1].Duration {
		t.Errorf("not longest first: %s then %s", rep.Queries[0].Duration, rep.Queries[1].Duration)
	}
}

func TestSlowQueriesBlindSpotIsReported(t *testing.T) {
	db := newDatabase(t, "")
	blind := newRole(t, "")
	other := startSleeper(t, "postgres", db)
	c := connect(t, "postgres", db)
	waitListed(t, c, other, 200*time.Millisecond) // it is running and visible to a superuser

	// The unprivileged role sees nothing of it, and says so.
	bc := connect(t, blind, db)
	rep, err := bc.SlowQueries(context.Background(), 200*time.Millisecond, 50)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep.Visibility.Note)
	for _, q := range rep.Queries {
		if uint32(q.PID) == other.pid {
			t.Fatalf("a role without pg_read_all_stats saw another role's statement: %+v", q)
		}
	}
	v := rep.Visibility
	if v.Complete || v.HiddenSessions < 2 || v.Superuser || v.ReadAllStats || v.Role != blind {
		// at least the sleeper and the superuser client above are hidden
		t.Fatalf("visibility %+v: the blind spot was not reported", v)
	}
	if v.HiddenByDatabase[db] < 2 {
		t.Errorf("hidden by database %v, want at least 2 in %s", v.HiddenByDatabase, db)
	}
	if !strings.Contains(v.Note, "pg_read_all_stats") || !strings.Contains(v.Note, blind) || !strings.Contains(v.Note, " in "+db) {
		t.Errorf("note %q does not say how to fix it", v.Note)
	}

	// Its own sessions it can read, even without the grant.
	own := startSleeper(t, blind, db)
	if _, q := waitListed(t, bc, own, 200*time.Millisecond); q.Query == "" {
		t.Error("own session listed without its text")
	}

	// With pg_read_all_stats it sees everything.
	exec(t, admin(t, "postgres"), "GRANT pg_read_all_stats TO "+blind)
	granted := connect(t, blind, db)
	rep, _ = waitListed(t, granted, other, 200*time.Millisecond)
	if v := rep.Visibility; !v.Complete || !v.ReadAllStats || v.Superuser || v.HiddenSessions != 0 {
		t.Errorf("visibility after the grant %+v", v)
	}
}

func TestConnections(t *testing.T) {
	db := newDatabase(t, "CONNECTION LIMIT 40")
	host, port := testServer(t)
	for range 3 {
		conn, err := pgx.Connect(context.Background(), fmt.Sprintf("host=%s port=%d user=postgres dbname=%s sslmode=disable", host, port, db))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
	}
	var maxConns, reserved int
	a := admin(t, "postgres")
	if err := a.QueryRow(context.Background(), "SELECT current_setting('max_connections')::int, current_setting('superuser_reserved_connections')::int").Scan(&maxConns, &reserved); err != nil {
		t.Fatal(err)
	}

	c := connect(t, "postgres", db)
	rep, err := c.Connections(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Database != db || rep.DatabaseLimit != 40 || rep.MaxConnections != maxConns || rep.SuperuserReserved != reserved || rep.Available != maxConns-reserved-rep.Reserved {
		t.Fatalf("report %+v", rep)
	}
	// Three idle sessions and ours, which is active while it asks.
	if d := rep.InDatabase; d.Name != db || d.Clients != 4 || d.Hidden != 0 || d.Idle != 3 || d.Active != 1 || d.IdleInTransaction != 0 {
		t.Errorf("in database %+v, want 4 clients (3 idle, 1 active)", d)
	}
	if !rep.Exact || rep.Hidden != 0 || rep.Clients < 5 { // + the admin session in postgres
		t.Errorf("exact %v hidden %d clients %d", rep.Exact, rep.Hidden, rep.Clients)
	}
	if want := float64(rep.Clients) / float64(rep.Available); rep.Saturation != want {
		t.Errorf("saturation %v, want %v", rep.Saturation, want)
	}
	if rep.For(db) != rep.InDatabase || rep.For("gpr_no_such_db") != (DatabaseConnections{Name: "gpr_no_such_db"}) {
		t.Errorf("For: %+v / %+v", rep.For(db), rep.For("gpr_no_such_db"))
	}
	sum := 0
	for _, d := range rep.PerDatabase {
		sum += d.Clients
	}
	if sum != rep.Clients {
		t.Errorf("per-database clients add up to %d, not %d", sum, rep.Clients)
	}

	// An idle-in-transaction session is counted as such.
	tx, err := a.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(context.Background(), "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	rep, err = c.Connections(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range rep.PerDatabase {
		if d.Name == "postgres" && d.IdleInTransaction < 1 {
			t.Errorf("postgres database %+v: the open transaction is not counted", d)
		}
	}

	// Without pg_read_all_stats the other sessions are counted as hidden, not dropped.
	blind := connect(t, newRole(t, ""), db)
	rep, err = blind.Connections(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// At least 4: an autovacuum worker visiting the new database would be hidden too.
	if d := rep.InDatabase; d.Clients != 1 || d.Hidden < 4 || rep.Exact {
		t.Errorf("blind view of %s: %+v exact %v, want 1 visible (itself) and 4 hidden", db, d, rep.Exact)
	}
	if want := float64(rep.Clients+rep.Hidden) / float64(rep.Available); rep.Saturation != want || rep.Hidden < 4 {
		t.Errorf("blind saturation %v (hidden %d), want %v", rep.Saturation, rep.Hidden, want)
	}
}

// TestConcurrentUse: the playbook probes in parallel; one Client must serialise its calls.
func TestConcurrentUse(t *testing.T) {
	db := newDatabase(t, "")
	c := connect(t, "postgres", db)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				_, err = c.SlowQueries(context.Background(), time.Second, 5)
			} else {
				_, err = c.Connections(context.Background())
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestSessionSettings(t *testing.T) {
	db := newDatabase(t, "")
	c := connect(t, "postgres", db)
	res, err := batch(context.Background(), c.conn, query{sql: "SELECT current_setting('application_name'), current_setting('statement_timeout'), current_setting('default_transaction_read_only')"})
	if err != nil {
		t.Fatal(err)
	}
	app, timeout, ro := text(res[0][0], 0), text(res[0][0], 1), text(res[0][0], 2)
	if app != ApplicationName || timeout != "10s" || ro != "on" {
		t.Fatalf("application_name %q statement_timeout %q read only %q", app, timeout, ro)
	}
}

// TestRecoversFromALostConnection: a probe that timed out mid-query (pgx then closes the
// connection) must not make the next probe fail.
func TestRecoversFromALostConnection(t *testing.T) {
	db := newDatabase(t, "")
	c := connect(t, "postgres", db)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := batch(ctx, c.conn, query{sql: "SELECT pg_sleep(5)"}); err == nil {
		t.Fatal("pg_sleep(5) finished within 200ms")
	}
	if !c.conn.IsClosed() {
		t.Fatal("test premise: pgconn closes the connection when ctx expires mid-query")
	}
	if _, err := c.Connections(context.Background()); err != nil {
		t.Fatalf("after a lost connection: %v", err)
	}
	if _, err := c.SlowQueries(context.Background(), time.Second, 5); err != nil {
		t.Fatalf("after a lost connection: %v", err)
	}
	c.Close(context.Background())
	if _, err := c.Connections(context.Background()); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("a closed client answered: %v", err)
	}
}

func TestConnectErrors(t *testing.T) {
	host, port := testServer(t)
	ctx := context.Background()

	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().(*net.TCPAddr)
		l.Close()
		_, err = Connect(ctx, Secret{Host: "127.0.0.1", Port: addr.Port, Username: "u", Password: password, SSLMode: "disable"}, Options{})
		if err == nil || strings.Contains(err.Error(), password) || !strings.Contains(err.Error(), "connect to database") {
			t.Fatalf("err %v", err)
		}
	})

	t.Run("silent server: ctx bounds the attempt", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() { // accept and say nothing, like a blackholed server
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				defer c.Close()
			}
		}()
		cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		_, err = Connect(cctx, Secret{Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, Username: "u", Password: password}, Options{ConnectTimeout: time.Minute})
		if !errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), password) {
			t.Fatalf("err %v, want a deadline error", err)
		}
		// And ConnectTimeout alone bounds it too.
		_, err = Connect(ctx, Secret{Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, Username: "u", Password: password, SSLMode: "disable"}, Options{ConnectTimeout: 300 * time.Millisecond})
		if err == nil {
			t.Fatal("connected to a silent server")
		}
	})

	t.Run("unknown database", func(t *testing.T) {
		_, err := Connect(ctx, Secret{Host: host, Port: port, Username: "postgres", Password: password, DBName: "gpr_no_such_db", SSLMode: "disable"}, Options{})
		if err == nil || strings.Contains(err.Error(), password) || !strings.Contains(err.Error(), "gpr_no_such_db") {
			t.Fatalf("err %v", err)
		}
		if errors.Is(err, ErrTooManyConnections) || errors.Is(err, ErrAuthFailed) {
			t.Fatalf("misclassified: %v", err)
		}
	})

	t.Run("no slots left is ErrTooManyConnections", func(t *testing.T) {
		db := newDatabase(t, "")
		role := newRole(t, "CONNECTION LIMIT 0")
		_, err := Connect(ctx, secretFor(t, role, db), Options{})
		if !errors.Is(err, ErrTooManyConnections) || strings.Contains(err.Error(), password) {
			t.Fatalf("err %v", err)
		}
	})

	t.Run("login refused is ErrAuthFailed", func(t *testing.T) {
		db := newDatabase(t, "")
		role := newRole(t, "")
		exec(t, admin(t, "postgres"), "ALTER ROLE "+role+" NOLOGIN")
		_, err := Connect(ctx, secretFor(t, role, db), Options{})
		if !errors.Is(err, ErrAuthFailed) || strings.Contains(err.Error(), password) {
			t.Fatalf("err %v", err)
		}
	})

	t.Run("dsn", func(t *testing.T) {
		db := newDatabase(t, "")
		c, err := Connect(ctx, Secret{DSN: fmt.Sprintf("postgres://postgres:%s@%s:%d/%s?sslmode=disable", "pw", host, port, db)}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		rep, err := c.Connections(ctx)
		if err != nil || rep.Database != db {
			t.Fatalf("database %q err %v", rep.Database, err)
		}
	})
}

// BenchmarkSlowQueries and BenchmarkConnections: one probe's cost on a quiet local server
// (one round trip each: a batch of statements).
func BenchmarkSlowQueries(b *testing.B) {
	c := benchClient(b)
	for b.Loop() {
		if _, err := c.SlowQueries(context.Background(), 5*time.Second, 20); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkConnections(b *testing.B) {
	c := benchClient(b)
	for b.Loop() {
		if _, err := c.Connections(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConnect: the connection itself, which the function pays once per invocation.
func BenchmarkConnect(b *testing.B) {
	s := benchSecret(b)
	for b.Loop() {
		c, err := Connect(context.Background(), s, Options{})
		if err != nil {
			b.Fatal(err)
		}
		c.Close(context.Background())
	}
}

func benchSecret(b *testing.B) Secret {
	if testing.Short() {
		b.Skip("needs PostgreSQL")
	}
	host, port := "127.0.0.1", 5432
	if h := os.Getenv("GPR_TEST_PG_HOST"); h != "" {
		host = h
	}
	if p, err := strconv.Atoi(os.Getenv("GPR_TEST_PG_PORT")); err == nil {
		port = p
	}
	return Secret{Host: host, Port: port, Username: "postgres", DBName: "postgres", SSLMode: "disable"}
}

func benchClient(b *testing.B) *Client {
	c, err := Connect(context.Background(), benchSecret(b), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close(context.Background()) })
	return c
}
