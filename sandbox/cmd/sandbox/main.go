// Command sandbox serves the local stand-in for one environment's AWS account (and the HTTP
// services around it) for `make demo` and manual runs.
//
//	go run ./sandbox/cmd/sandbox -scenario ingestor-oom
//	eval "$(go run ./sandbox/cmd/sandbox -print-env | sed 's/^/export /')"
//
// When ready it prints its base URL on stdout (one line); logs go to stderr. It stops on
// SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/arrakis/gp-remediation/sandbox"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run serves until ctx is done (main cancels it on SIGINT or SIGTERM).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:4566", "listen address")
	env := fs.String("env", "staging", "environment name every resource name derives from")
	scenario := fs.String("scenario", "healthy", "scenario to load (see -list)")
	delay := fs.Duration("task-start-delay", 2*time.Second, "how long a new task stays PENDING")
	printEnv := fs.Bool("print-env", false, "print the KEY=VALUE environment lines for -addr and exit")
	list := fs.Bool("list", false, "list the scenarios and exit")
	verbose := fs.Bool("v", false, "log every AWS call")
	amqpURL := fs.String("amqp-url", "", "amqp_url in the RabbitMQ secret (default amqp://127.0.0.1:5672/)")
	mgmtURL := fs.String("management-url", "", "management_url in the RabbitMQ secret (default http://127.0.0.1:15672)")
	rabbitUser := fs.String("rabbit-user", "", "RabbitMQ username (default guest)")
	rabbitPass := fs.String("rabbit-password", "", "RabbitMQ password (default guest)")
	dbHost := fs.String("db-host", "", "database host (default 127.0.0.1)")
	dbPort := fs.Int("db-port", 0, "database port (default 5432)")
	dbUser := fs.String("db-user", "", "database user (default postgres)")
	dbPass := fs.String("db-password", "", "database password (default empty)")
	dbName := fs.String("db-name", "", "database name (default arrakis)")
	if err := fs.Parse(args); err != nil {
		return 2
	}

	if *list {
		for _, sc := range sandbox.Scenarios() {
			fmt.Fprintf(stdout, "%-32s %s\n", sc.Name, sc.Description)
		}
		return 0
	}
	if *printEnv {
		fmt.Fprint(stdout, sandbox.EnvLines(sandbox.EnvFor("http://"+*addr, *env)))
		return 0
	}

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	s := sandbox.New(sandbox.Options{
		Env:            *env,
		TaskStartDelay: *delay,
		Logger:         log,
		Rabbit:         sandbox.RabbitOptions{AMQPURL: *amqpURL, ManagementURL: *mgmtURL, Username: *rabbitUser, Password: *rabbitPass},
		Database:       sandbox.DatabaseOptions{Host: *dbHost, Port: *dbPort, Username: *dbUser, Password: *dbPass, DBName: *dbName},
	})
	if err := s.LoadScenario(*scenario); err != nil {
		log.Error("load scenario", "err", err)
		return 2
	}
	url, stop, err := s.Start(*addr)
	if err != nil {
		log.Error("start sandbox", "err", err)
		return 1
	}
	defer stop()
	log.Info("sandbox ready", "url", url, "env", *env, "scenario", *scenario,
		"admin", url+"/_sandbox/state", "scenarios", strings.Join(names(), ","))
	fmt.Fprintln(stdout, url)

	<-ctx.Done()
	log.Info("stopping")
	return 0
}

func names() []string {
	var out []string
	for _, sc := range sandbox.Scenarios() {
		out = append(out, sc.Name)
	}
	return out
}
