package store

import (
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/recgate/recgate/rules"
)

func TestParsePostgresDSN(t *testing.T) {
	const secret = "s3cr3t-p4ss"
	tests := []struct {
		dsn  string
		want string // a word the error must contain; "" means valid
	}{
		{"postgres://recgate:" + secret + "@db.example.net:5432/recgate?sslmode=require", ""},
		{"postgresql://recgate@10.0.0.5/recgate", ""},
		{"host=db1,db2 port=5432 dbname=recgate user=recgate password=" + secret, ""},
		{"host=/var/run/postgresql dbname=recgate", ""},
		{"postgres://recgate:" + secret + "@/recgate?host=/var/run/postgresql", ""},
		{"", "empty"},
		{"   ", "empty"},
		{"postgres://recgate:" + secret + "@/recgate", "no host"},
		{"postgres://recgate:" + secret + "@db.example.net:5432", "no database"},
		{"postgres://recgate:" + secret + "@db.example.net:5432/", "no database"},
		{"dbname=recgate user=recgate password=" + secret, "no host"},
		{"host=db.example.net user=recgate password='" + secret + "'", "no database"},
		{"host=db.example.net dbname=recgate password='" + secret, "does not parse"},
		{"postgres://recgate:" + secret + "@db.example.net:5432/recgate?sslmode=maybe", "not a valid"},
		{"just some words", "does not parse"},
	}
	for _, tt := range tests {
		t.Run(tt.dsn, func(t *testing.T) {
			cfg, err := ParsePostgresDSN(tt.dsn)
			if tt.want == "" {
				if err != nil || cfg == nil {
					t.Fatalf("ParsePostgresDSN: %v", err)
				}
				if cfg.ConnectTimeout == 0 {
					t.Errorf("no connect timeout set")
				}
				return
			}
			if err == nil {
				t.Fatalf("ParsePostgresDSN accepted %q", tt.dsn)
			}
			if rules.ErrorCode(err) != rules.EINVALID || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q (code %s), want %s mentioning %q", err, rules.ErrorCode(err), rules.EINVALID, tt.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error prints the password: %q", err)
			}
		})
	}
}

func TestRedactDSN(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://u:pw@h:5432/db?sslmode=disable", "postgres://u:xxxxx@h:5432/db?sslmode=disable"},
		{"postgres://u@h/db?password=pw", "postgres://u@h/db?password=xxxxx"},
		{"host=h dbname=db user=u password='p w'", "host=h dbname=db user=u password=xxxxx"},
		{"host=h password=pw sslmode=disable dbname=db", "host=h dbname=db password=xxxxx"},
		{"host=h password='pw", "(unparsable connection string)"},
	}
	for _, tt := range tests {
		if got := RedactDSN(tt.in); got != tt.want {
			t.Errorf("RedactDSN(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzParsePostgresDSN(f *testing.F) {
	for _, s := range []string{"postgres://u:pw@h/db", "host=h dbname=d password='x\\'y'", "host=", "=", "''", "postgres://%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dsn string) {
		_, err := ParsePostgresDSN(dsn)
		if err != nil && rules.ErrorCode(err) != rules.EINVALID {
			t.Errorf("code %s for %q", rules.ErrorCode(err), dsn)
		}
		kv, ok := parseKV(dsn)
		if pw := kv["password"]; ok && len(pw) >= 4 && err != nil && strings.Contains(err.Error(), pw) &&
			!strings.Contains(strings.ReplaceAll(dsn, pw, ""), pw) && !strings.Contains(RedactDSN(dsn), pw) {
			t.Errorf("error %q prints the password %q", err, pw)
		}
		RedactDSN(dsn)
	})
}

func TestRebind(t *testing.T) {
	tests := []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"SELECT a FROM t WHERE b = ? AND c IN (?, ?)", "SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)"},
		{"SELECT '?', \"we?rd\" FROM t WHERE x = ?", "SELECT '?', \"we?rd\" FROM t WHERE x = $1"},
		{"SELECT 'it''s?' WHERE x = ?", "SELECT 'it''s?' WHERE x = $1"},
		{"-- why?\nSELECT ? /* or? */, ?", "-- why?\nSELECT $1 /* or? */, $2"},
		{"DO $$ BEGIN PERFORM '?'; END $$; SELECT ?", "DO $$ BEGIN PERFORM '?'; END $$; SELECT $1"},
		{"SELECT 'unterminated ?", "SELECT 'unterminated ?"},
	}
	for _, tt := range tests {
		if got := rebind(tt.in); got != tt.want {
			t.Errorf("rebind(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestMigrationSetsMatch: both drivers' migrations have the same versions
// and names, so a schema version means the same tables on both (store
// copy compares them).
func TestMigrationSetsMatch(t *testing.T) {
	names := func(driver string) []string {
		ms, err := loadDriverMigrations(driver)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range ms {
			out = append(out, m.name)
		}
		return out
	}
	if a, b := names(DriverSQLite), names(DriverPostgres); !reflect.DeepEqual(a, b) || len(a) == 0 {
		t.Errorf("migrations differ:\nsqlite   %v\npostgres %v", a, b)
	}
}

func TestCodeOfPostgres(t *testing.T) {
	tests := []struct {
		err  error
		code string
	}{
		{&pgconn.PgError{Code: "23505"}, rules.ECONFLICT}, // unique_violation
		{&pgconn.PgError{Code: "23514"}, rules.ECONFLICT}, // check_violation
		{&pgconn.PgError{Code: "22001"}, rules.EINVALID},  // string_data_right_truncation
		{&pgconn.PgError{Code: "57P01"}, rules.EUNAVAILABLE},
		{&pgconn.PgError{Code: "08006"}, rules.EUNAVAILABLE},
		{&pgconn.PgError{Code: "40001"}, rules.EUNAVAILABLE},
		{&pgconn.PgError{Code: "53300"}, rules.EUNAVAILABLE},
		{&pgconn.PgError{Code: "25006"}, rules.EUNAVAILABLE},
		{&pgconn.PgError{Code: "42P01"}, rules.EINTERNAL},                                // undefined_table
		{&pgconn.PgError{Code: "42601", Message: "connection refused"}, rules.EINTERNAL}, // never by message
		{fmt.Errorf("read: %w", io.ErrUnexpectedEOF), rules.EUNAVAILABLE},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, rules.EUNAVAILABLE},
	}
	for _, tt := range tests {
		if got := rules.ErrorCode(wrap("op", tt.err)); got != tt.code {
			t.Errorf("wrap(%v) code = %q, want %q", tt.err, got, tt.code)
		}
	}
}

// TestErrorsAreOneLine: a driver error listing its attempts one per line
// (pgconn's failed connection) reads as one line, as the CLI prints errors.
func TestErrorsAreOneLine(t *testing.T) {
	err := unavailable("connect", errors.New("failed to connect to `user=u database=x`:\n\t127.0.0.1:1: refused\n\t127.0.0.1:1: refused"))
	want := "store: connect: failed to connect to `user=u database=x`: 127.0.0.1:1: refused; 127.0.0.1:1: refused"
	if err.Error() != want {
		t.Errorf("error = %q\nwant %q", err, want)
	}
}
