package ledger

// WithSuffix replaces the random sort-key suffix, so a test can force two entries onto the same
// key and see that the second is refused rather than overwriting the first.
func WithSuffix(f func() (string, error)) Option { return func(t *Table) { t.suffix = f } }
