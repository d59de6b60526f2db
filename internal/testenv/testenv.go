// Package testenv gives bento's tests the addresses of the real servers they
// run against, read from environment variables with the local defaults.
//
// A test asks for a server with [Redis], [Postgres], [MySQL], [NATS] or
// [DynamoDB]. When the
// server does not answer, the test is skipped with a message naming the
// variable to set — or, with BENTO_REQUIRE_SERVICES=1 (as CI sets), it fails:
// a missing server must never turn a CI run green by skipping.
package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// The variables and their defaults.
const (
	RedisVar     = "BENTO_REDIS_ADDR"
	PostgresVar  = "BENTO_POSTGRES_DSN"
	MySQLVar     = "BENTO_MYSQL_DSN"
	NATSVar      = "BENTO_NATS_URL"
	DynamoDBVar  = "BENTO_DYNAMODB_ENDPOINT"
	RequireVar   = "BENTO_REQUIRE_SERVICES"
	RedisDefault = "127.0.0.1:6379"
	PgDefault    = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	MySQLDefault = "root@tcp(127.0.0.1:3306)/test?parseTime=true"
	NATSDefault  = "nats://127.0.0.1:4222"
	// DynamoDBDefault is where .ci/run starts dynalite, a DynamoDB
	// emulator.
	DynamoDBDefault = "http://127.0.0.1:4567"
	dialTimeout     = 3 * time.Second
	requiredValue   = "1"
)

// Required reports whether missing servers fail tests instead of skipping
// them (BENTO_REQUIRE_SERVICES=1).
func Required() bool { return os.Getenv(RequireVar) == requiredValue }

// Redis returns the address of the Redis server, or skips (or fails) t.
func Redis(t testing.TB) string {
	t.Helper()
	addr := lookup(RedisVar, RedisDefault)
	reachable(t, RedisVar, addr)
	return addr
}

// Postgres returns the DSN of the PostgreSQL server, or skips (or fails) t.
func Postgres(t testing.TB) string {
	t.Helper()
	dsn := lookup(PostgresVar, PgDefault)
	reachable(t, PostgresVar, hostOf(dsn, "127.0.0.1", "5432"))
	return dsn
}

// MySQL returns the DSN of the MySQL or MariaDB server (go-sql-driver/mysql
// form), or skips (or fails) t.
func MySQL(t testing.TB) string {
	t.Helper()
	dsn := lookup(MySQLVar, MySQLDefault)
	host := "127.0.0.1:3306"
	if i := strings.Index(dsn, "tcp("); i >= 0 {
		if j := strings.Index(dsn[i:], ")"); j > 0 {
			host = dsn[i+len("tcp(") : i+j]
		}
	}
	reachable(t, MySQLVar, host)
	return dsn
}

// NATS returns the URL of the NATS server (with JetStream enabled, for the
// key-value driver), or skips (or fails) t.
func NATS(t testing.TB) string {
	t.Helper()
	u := lookup(NATSVar, NATSDefault)
	reachable(t, NATSVar, hostOf(u, "127.0.0.1", "4222"))
	return u
}

// DynamoDB returns the endpoint URL of a DynamoDB service, a local
// emulator (dynalite) by default, or skips (or fails) t.
func DynamoDB(t testing.TB) string {
	t.Helper()
	u := lookup(DynamoDBVar, DynamoDBDefault)
	port := "80"
	if strings.HasPrefix(u, "https:") {
		port = "443"
	}
	reachable(t, DynamoDBVar, hostOf(u, "127.0.0.1", port))
	return u
}

// hostOf returns the "host:port" of the URL rawURL, with port when it has
// none, or host and port when it is not a URL with a host.
func hostOf(rawURL, host, port string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return net.JoinHostPort(host, port)
	}
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), port)
	}
	return u.Host
}

// NATSAddr returns the "host:port" of the NATS server of [NATS], for a
// proxy in front of it.
func NATSAddr(t testing.TB) string {
	t.Helper()
	p, err := url.Parse(NATS(t))
	if err != nil || p.Host == "" {
		t.Fatalf("testenv: %s is not a nats://host:port URL", NATSVar)
	}
	return p.Host
}

// Prefix returns a fresh random key prefix (or table suffix): letters,
// digits and "_" only, so it is safe in a key, a channel and a SQL name.
func Prefix(t testing.TB) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "bt_" + hex.EncodeToString(b[:])
}

func lookup(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// reachable checks that something answers TCP on addr.
func reachable(t testing.TB, varName, addr string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, dialTimeout)
	if err == nil {
		_ = conn.Close()
		return
	}
	if Required() {
		t.Fatalf("server at %s (%s) does not answer and %s=1: %v", addr, varName, RequireVar, err)
	}
	t.Skipf("server at %s does not answer (%v); set %s to its address, or %s=1 to fail instead", addr, err, varName, RequireVar)
}

// ClosedAddr returns a loopback address that nothing listens on, for tests
// of a server that cannot be reached.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}
