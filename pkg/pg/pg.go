// Package pg answers the runbook's "Database Operations" questions for the queue-depth
// function: which statements have been running for longer than a threshold, and how close
// the server is to max_connections. It reads pg_stat_activity only.
//
// What it cannot see, it says: without superuser or pg_read_all_stats, other roles'
// sessions show in pg_stat_activity with NULL state, query_start and backend_type, so the
// runbook's query silently returns nothing for them. SlowQueries reports that as
// Visibility, so a caller never says "no slow queries" when it could not look.
//
// The password is a credential: it goes to the server and nowhere else. No error carries it.
package pg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/arrakis/gp-remediation/pkg/scrub"
)

// ApplicationName identifies our sessions in pg_stat_activity.
const ApplicationName = "gp-remediation"

// DefaultDatabase is used when the secret names none (RDS-generated secrets often do not):
// the worker's database, per the runbook.
const DefaultDatabase = "arrakis"

// Errors that classify a failed connection; test with errors.Is. Both are evidence for
// the queue-depth decision: a server that refuses us for lack of slots is saturated.
var (
	// ErrTooManyConnections: SQLSTATE 53300, the server (or the database's or role's
	// connection limit) has no slot left.
	ErrTooManyConnections = errors.New("database has no connection slots left (SQLSTATE 53300)")
	// ErrAuthFailed: SQLSTATE 28P01/28000, the credentials or pg_hba rejected us.
	ErrAuthFailed = errors.New("database rejected the credentials")
)

// Secret is the database secret (config.EnvDatabaseSecret): either the fields, as RDS
// writes them, or a dsn (URL or keyword/value) that wins over the fields.
type Secret struct {
	Host     string
	Port     int
	Username string
	Password string
	DBName   string
	SSLMode  string // disable, allow, prefer (default), require, verify-ca, verify-full
	DSN      string
}

// ParseSecret decodes a SecretString. port may be a number or a string; "user" and
// "database" are accepted as spellings of username and dbname. Errors never quote values.
func ParseSecret(secretString string) (Secret, error) {
	var raw struct {
		Host     string          `json:"host"`
		Port     json.RawMessage `json:"port"`
		Username string          `json:"username"`
		User     string          `json:"user"`
		Password string          `json:"password"`
		DBName   string          `json:"dbname"`
		Database string          `json:"database"`
		SSLMode  string          `json:"sslmode"`
		DSN      string          `json:"dsn"`
	}
	if err := json.Unmarshal([]byte(secretString), &raw); err != nil {
		return Secret{}, fmt.Errorf("decode database secret: %w", scrub.JSONError(err))
	}
	s := Secret{
		Host: strings.TrimSpace(raw.Host), Username: first(raw.Username, raw.User), Password: raw.Password,
		DBName: first(raw.DBName, raw.Database), SSLMode: strings.TrimSpace(raw.SSLMode), DSN: strings.TrimSpace(raw.DSN),
	}
	if p := strings.Trim(strings.TrimSpace(string(raw.Port)), `"`); p != "" && p != "null" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Secret{}, errors.New("decode database secret: port is not a number from 1 to 65535")
		}
		s.Port = n
	}
	if s.DSN == "" && s.Host == "" {
		return Secret{}, errors.New("decode database secret: it has neither host nor dsn")
	}
	return s, nil
}

func first(a, b string) string {
	if a = strings.TrimSpace(a); a != "" {
		return a
	}
	return strings.TrimSpace(b)
}

// Options tune Connect. The zero value is usable.
type Options struct {
	// ConnectTimeout bounds each connection attempt (ctx bounds the whole); default 5s.
	ConnectTimeout time.Duration
	// StatementTimeout is set on the session as a server-side backstop should the Lambda
	// die mid-query; default 10s. Callers still pass a ctx deadline per call.
	StatementTimeout time.Duration
}

// Client is one connection. Its methods are safe for concurrent use (they take turns on
// the connection): one connection, because the server being diagnosed may be short of them.
// When a call's ctx expires mid-query pgx closes the connection; the next call opens a
// new one, so one timed-out probe does not blind the others.
type Client struct {
	mu       sync.Mutex
	cfg      *pgconn.Config
	password string
	conn     *pgconn.PgConn
	closed   bool
}

// Connect opens a connection described by the secret, honouring ctx for the whole attempt.
func Connect(ctx context.Context, s Secret, opts Options) (*Client, error) {
	cfg, err := s.config(opts)
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, password: s.Password}
	if err := c.ensure(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// ensure (under mu) makes sure there is an open connection.
func (c *Client) ensure(ctx context.Context) error {
	if c.closed {
		return errors.New("database client is closed")
	}
	if c.conn != nil && !c.conn.IsClosed() {
		return nil
	}
	conn, err := pgconn.ConnectConfig(ctx, c.cfg)
	if err != nil {
		return connectError(err, c.password)
	}
	c.conn = conn
	return nil
}

// Close ends the session.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.conn == nil {
		return nil
	}
	return c.conn.Close(ctx)
}

func (s Secret) config(opts Options) (*pgconn.Config, error) {
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 5 * time.Second
	}
	if opts.StatementTimeout <= 0 {
		opts.StatementTimeout = 10 * time.Second
	}
	var cfg *pgconn.Config
	var err error
	if s.DSN != "" {
		cfg, err = pgconn.ParseConfig(s.DSN)
		if err != nil {
			// pgx redacts passwords from its parse errors only on a best-effort basis for
			// malformed strings, so say nothing about the string at all.
			return nil, errors.New("database secret: dsn is malformed (details withheld: it may hold the password)")
		}
	} else {
		port, db, sslmode := s.Port, s.DBName, s.SSLMode
		if port == 0 {
			port = 5432
		}
		if db == "" {
			db = DefaultDatabase
		}
		if sslmode == "" {
			sslmode = "prefer"
		}
		// The password is set on the parsed config, so it never passes through a string
		// that an error could quote.
		kv := fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=%s",
			quoteKV(s.Host), port, quoteKV(s.Username), quoteKV(db), quoteKV(sslmode))
		cfg, err = pgconn.ParseConfig(kv)
		if err != nil {
			return nil, fmt.Errorf("database secret: %w", err)
		}
		cfg.Password = s.Password
	}
	cfg.ConnectTimeout = opts.ConnectTimeout
	cfg.RuntimeParams["application_name"] = ApplicationName
	cfg.RuntimeParams["statement_timeout"] = strconv.FormatInt(opts.StatementTimeout.Milliseconds(), 10)
	cfg.RuntimeParams["default_transaction_read_only"] = "on" // we only ever read
	// Queries go through pgconn's extended protocol with unnamed statements and text
	// results: no server-side prepared statements (works through PgBouncer and RDS Proxy),
	// and no pgx type system, which would add ~3 MB to the Lambda binary for five queries.
	return cfg, nil
}

// quoteKV quotes a keyword/value connection-string value.
func quoteKV(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

func connectError(err error, password string) error {
	err = scrub.Error(err, password)
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "53300":
			return fmt.Errorf("connect to database: %w: %w", ErrTooManyConnections, err)
		case "28P01", "28000":
			return fmt.Errorf("connect to database: %w: %w", ErrAuthFailed, err)
		}
	}
	return fmt.Errorf("connect to database: %w", err)
}

// Visibility says how much of pg_stat_activity our role can read.
type Visibility struct {
	Role         string // current_user
	Superuser    bool
	ReadAllStats bool // member of pg_read_all_stats (superusers are members of every role)
	// HiddenSessions counts other sessions connected to a database whose state, query and
	// backend type we may not read: they could be running slow queries we cannot list.
	HiddenSessions int
	// HiddenByDatabase splits HiddenSessions by database (on RDS, for example, the
	// rdsadmin database always has sessions an ordinary role cannot read).
	HiddenByDatabase map[string]int
	// Complete is true when nothing was hidden: then an empty list really means none.
	Complete bool
	// Note says, when not Complete, what is missing and how to fix it.
	Note string
}

// SlowQuery is one statement running (or one transaction sitting) for longer than the threshold.
type SlowQuery struct {
	PID         int32
	Database    string
	User        string
	Application string
	BackendType string // client backend or autovacuum worker
	State       string // active, idle in transaction, ...
	// Duration is since query_start (for "idle in transaction": since its last statement began).
	Duration time.Duration
	// TransactionAge is since xact_start (0 outside a transaction).
	TransactionAge time.Duration
	WaitEventType  string
	WaitEvent      string
	BlockedBy      []int32 // pg_blocking_pids: sessions holding the locks it waits for
	// Query is the statement text with literals masked and whitespace collapsed, at most
	// MaxQueryRunes runes: the text may contain user data.
	Query string
}

// SlowQueryReport is SlowQueries' answer.
type SlowQueryReport struct {
	Over       time.Duration
	Queries    []SlowQuery // longest-running first, at most the limit asked for
	Total      int         // how many matched before the limit
	Visibility Visibility
}

// SlowQueries lists non-idle sessions whose current statement started more than over ago,
// longest first: the runbook's query, measured with clock_timestamp() (now() is the start
// of our own transaction), without our own session, limited to client backends and
// autovacuum workers (a walsender streams for days and is not slow). limit ≤ 0 means 20.
func (c *Client) SlowQueries(ctx context.Context, over time.Duration, limit int) (SlowQueryReport, error) {
	if limit <= 0 {
		limit = 20
	}
	if over < 0 {
		over = 0
	}
	rep := SlowQueryReport{Over: over}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.ensure(ctx); err != nil {
		return SlowQueryReport{}, err
	}

	res, err := batch(ctx, c.conn,
		query{sql: visibilitySQL},
		query{sql: hiddenSQL},
		query{sql: slowSQL, args: []string{strconv.FormatFloat(over.Seconds(), 'f', -1, 64), strconv.Itoa(limit)}})
	if err != nil {
		return SlowQueryReport{}, fmt.Errorf("read pg_stat_activity for statements over %s: %w", over, err)
	}
	if len(res[0]) != 1 {
		return SlowQueryReport{}, errors.New("read pg_stat_activity: no visibility row")
	}
	row := res[0][0]
	rep.Visibility.Role, rep.Visibility.Superuser, rep.Visibility.ReadAllStats = text(row, 0), boolean(row, 1), boolean(row, 2)
	for _, row := range res[1] {
		if rep.Visibility.HiddenByDatabase == nil {
			rep.Visibility.HiddenByDatabase = map[string]int{}
		}
		n := integer(row, 1)
		rep.Visibility.HiddenByDatabase[text(row, 0)] = n
		rep.Visibility.HiddenSessions += n
	}
	for _, row := range res[2] {
		q := SlowQuery{PID: int32(integer(row, 0)), Database: text(row, 1), User: text(row, 2), Application: text(row, 3),
			BackendType: text(row, 4), State: text(row, 5), Duration: seconds(float(row, 6)), TransactionAge: seconds(float(row, 7)),
			WaitEventType: text(row, 8), WaitEvent: text(row, 9), Query: MaskQuery(text(row, 10)), BlockedBy: int32Array(row, 11)}
		rep.Total = integer(row, 12)
		rep.Queries = append(rep.Queries, q)
	}
	v := &rep.Visibility
	v.Complete = v.HiddenSessions == 0
	if !v.Complete {
		v.Note = fmt.Sprintf("role %s cannot read the activity of %d other session(s) (%s): neither superuser nor a member of pg_read_all_stats, so their slow statements, if any, are not listed; fix: GRANT pg_read_all_stats TO %s",
			v.Role, v.HiddenSessions, perDB(v.HiddenByDatabase), v.Role)
	}
	return rep, nil
}

// A batch runs as one implicit transaction, and pg_stat_activity is snapshotted at first
// access in a transaction, so the visibility count and the list describe the same moment.
const visibilitySQL = `
SELECT current_user::text,
       coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false),
       pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER')`

// A row we may not read has a NULL backend_type (every readable row has one); with a
// database it is a session (or an autovacuum worker), without one a server process.
const hiddenSQL = `
SELECT a.datname::text, count(*)::int
FROM pg_stat_activity a
WHERE a.backend_type IS NULL AND a.datname IS NOT NULL AND a.pid <> pg_backend_pid()
GROUP BY a.datname`

const slowSQL = `
SELECT a.pid, coalesce(a.datname, ''), coalesce(a.usename, ''), coalesce(a.application_name, ''),
       a.backend_type, a.state,
       extract(epoch FROM clock_timestamp() - a.query_start)::float8,
       coalesce(extract(epoch FROM clock_timestamp() - a.xact_start)::float8, 0),
       coalesce(a.wait_event_type, ''), coalesce(a.wait_event, ''), coalesce(a.query, ''),
       pg_blocking_pids(a.pid), (count(*) OVER ())::int
FROM pg_stat_activity a
WHERE a.pid <> pg_backend_pid()
  AND a.state <> 'idle'
  AND a.backend_type IN ('client backend', 'autovacuum worker')
  AND clock_timestamp() - a.query_start > make_interval(secs => $1::float8)
ORDER BY a.query_start
LIMIT $2::int`

func seconds(s float64) time.Duration {
	if !(s > 0) {
		return 0
	}
	return time.Duration(math.Min(s, 1e9) * float64(time.Second))
}

// DatabaseConnections are the sessions connected to one database.
type DatabaseConnections struct {
	Name              string
	Clients           int // client backends we can see
	Hidden            int // sessions we cannot classify (see Visibility)
	Active            int
	Idle              int
	IdleInTransaction int // "idle in transaction" and "(aborted)": a pool leaking transactions shows here
}

// ConnectionReport is Connections' answer.
type ConnectionReport struct {
	// Database is the database we are connected to (the secret's dbname, normally arrakis).
	Database string
	// InDatabase is Database's row of PerDatabase.
	InDatabase DatabaseConnections
	// DatabaseLimit is Database's CONNECTION LIMIT, -1 when it has none.
	DatabaseLimit int

	MaxConnections    int
	SuperuserReserved int // superuser_reserved_connections
	Reserved          int // reserved_connections (PostgreSQL 16+; 0 before)
	// Available is what ordinary roles may use: max_connections minus both reservations.
	Available int

	Clients int // client backends on the whole server, ours included
	Hidden  int // sessions we could not classify; counted as clients below
	// Saturation is (Clients+Hidden)/Available. Hidden sessions may include a few
	// autovacuum workers, which do not take a client slot: without pg_read_all_stats the
	// ratio errs high, never low.
	Saturation float64
	Exact      bool // Hidden == 0

	PerDatabase []DatabaseConnections // most clients first
}

// For returns the row of the named database (zero counts when nobody is connected to it),
// e.g. rep.For("arrakis") when the secret names another database.
func (r ConnectionReport) For(name string) DatabaseConnections {
	for _, d := range r.PerDatabase {
		if d.Name == name {
			return d
		}
	}
	return DatabaseConnections{Name: name}
}

// Connections counts client backends (backend_type = 'client backend') per database and
// against max_connections less the reserved slots.
func (c *Client) Connections(ctx context.Context) (ConnectionReport, error) {
	var rep ConnectionReport
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.ensure(ctx); err != nil {
		return ConnectionReport{}, err
	}

	res, err := batch(ctx, c.conn, query{sql: settingsSQL}, query{sql: perDatabaseSQL})
	if err != nil {
		return ConnectionReport{}, fmt.Errorf("count connections in pg_stat_activity: %w", err)
	}
	if len(res[0]) != 1 {
		return ConnectionReport{}, errors.New("count connections: no settings row")
	}
	row := res[0][0]
	rep.Database, rep.MaxConnections, rep.SuperuserReserved, rep.Reserved, rep.DatabaseLimit =
		text(row, 0), integer(row, 1), integer(row, 2), integer(row, 3), integer(row, 4)
	for _, row := range res[1] {
		rep.PerDatabase = append(rep.PerDatabase, DatabaseConnections{Name: text(row, 0), Clients: integer(row, 1), Hidden: integer(row, 2),
			Active: integer(row, 3), Idle: integer(row, 4), IdleInTransaction: integer(row, 5)})
	}
	rep.InDatabase = DatabaseConnections{Name: rep.Database}
	for _, d := range rep.PerDatabase {
		rep.Clients += d.Clients
		rep.Hidden += d.Hidden
		if d.Name == rep.Database {
			rep.InDatabase = d
		}
	}
	rep.Available = rep.MaxConnections - rep.SuperuserReserved - rep.Reserved
	if rep.Available > 0 {
		rep.Saturation = float64(rep.Clients+rep.Hidden) / float64(rep.Available)
	}
	rep.Exact = rep.Hidden == 0
	return rep, nil
}

const settingsSQL = `
SELECT current_database()::text,
       current_setting('max_connections')::int,
       current_setting('superuser_reserved_connections')::int,
       coalesce(nullif(current_setting('reserved_connections', true), ''), '0')::int,
       (SELECT datconnlimit FROM pg_database WHERE datname = current_database())`

// Client backends always have a database; hidden rows with one are sessions (or autovacuum
// workers) we may not classify. Rows without a database are the server's own processes.
const perDatabaseSQL = `
SELECT a.datname::text,
       (count(*) FILTER (WHERE a.backend_type = 'client backend'))::int,
       (count(*) FILTER (WHERE a.backend_type IS NULL))::int,
       (count(*) FILTER (WHERE a.backend_type = 'client backend' AND a.state = 'active'))::int,
       (count(*) FILTER (WHERE a.backend_type = 'client backend' AND a.state = 'idle'))::int,
       (count(*) FILTER (WHERE a.backend_type = 'client backend' AND a.state LIKE 'idle in transaction%'))::int
FROM pg_stat_activity a
WHERE a.datname IS NOT NULL
GROUP BY a.datname
ORDER BY 2 DESC, 3 DESC, 1`

// perDB renders {"arrakis": 3, "rdsadmin": 1} as "3 in arrakis, 1 in rdsadmin".
func perDB(m map[string]int) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%d in %s", m[n], n)
	}
	return strings.Join(parts, ", ")
}
