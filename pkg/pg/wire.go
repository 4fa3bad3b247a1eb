package pg

import (
	"context"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// query is one statement of a batch, with text parameters.
type query struct {
	sql  string
	args []string
}

// batch runs the queries in one round trip. pgconn pipelines them with a single Sync, so
// they run in one implicit transaction: pg_stat_activity is snapshotted at its first access
// in a transaction, so every query sees the same moment. Results are in text format.
func batch(ctx context.Context, conn *pgconn.PgConn, qs ...query) ([][][][]byte, error) {
	b := &pgconn.Batch{}
	for _, q := range qs {
		params := make([][]byte, len(q.args))
		for i, a := range q.args {
			params[i] = []byte(a)
		}
		b.ExecParams(q.sql, params, nil, nil, nil)
	}
	results, err := conn.ExecBatch(ctx, b).ReadAll()
	if err != nil {
		return nil, err
	}
	out := make([][][][]byte, len(results))
	for i, r := range results {
		if r.Err != nil {
			return nil, r.Err
		}
		out[i] = r.Rows
	}
	return out, nil
}

// Column readers for text-format rows; NULL (nil) reads as the zero value, which the
// queries avoid with coalesce where it matters.

func text(row [][]byte, i int) string {
	if i >= len(row) {
		return ""
	}
	return string(row[i])
}

func integer(row [][]byte, i int) int {
	n, _ := strconv.Atoi(text(row, i))
	return n
}

func float(row [][]byte, i int) float64 {
	f, _ := strconv.ParseFloat(text(row, i), 64)
	return f
}

func boolean(row [][]byte, i int) bool { return text(row, i) == "t" }

// int32Array reads an int[] in text form, e.g. {12,345}.
func int32Array(row [][]byte, i int) []int32 {
	s := strings.Trim(text(row, i), "{}")
	if s == "" {
		return nil
	}
	var out []int32
	for _, p := range strings.Split(s, ",") {
		if n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 32); err == nil {
			out = append(out, int32(n))
		}
	}
	return out
}
