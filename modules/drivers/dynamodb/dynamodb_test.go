package dynamodb_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/drivertest"
	"github.com/bentocache/bento/internal/caddyfiletest"
	"github.com/bentocache/bento/internal/configtest"
	"github.com/bentocache/bento/internal/testenv"
	"github.com/bentocache/bento/modules/drivers/dynamodb"
	_ "github.com/bentocache/bento/modules/drivers/memory"
)

// maxValue is the value size the suite stores: an item's limit, less room
// for the key and the attribute names.
const maxValue = dynamodb.MaxItemSize - 1<<10

// newClient returns a client on the test service, with the static dummy
// credentials an emulator takes, sending its requests through rt (nil: the
// default transport).
func newClient(t *testing.T, rt http.RoundTripper) *awsdynamodb.Client {
	t.Helper()
	o := awsdynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(testenv.DynamoDB(t)),
		Credentials:  credentials.NewStaticCredentialsProvider("bento", "bento", ""),
	}
	if rt != nil {
		o.HTTPClient = &http.Client{Transport: rt}
	}
	return awsdynamodb.New(o)
}

// newTable creates a table of the test's own through a driver with
// create_table, and deletes it when t ends.
func newTable(t *testing.T, client *awsdynamodb.Client) string {
	t.Helper()
	table := testenv.Prefix(t)
	dr := dynamodb.New(dynamodb.Options{Client: client, Table: table, CreateTable: true})
	if err := dr.Ping(t.Context()); err != nil {
		t.Fatalf("creating table %q: Ping() = %v", table, err)
	}
	t.Cleanup(func() { dropTable(t, client, table) })
	return table
}

func dropTable(t *testing.T, client *awsdynamodb.Client, table string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := client.DeleteTable(ctx, &awsdynamodb.DeleteTableInput{TableName: &table})
	var missing *types.ResourceNotFoundException
	if err != nil && !errors.As(err, &missing) {
		t.Errorf("deleting table %q: %v", table, err)
	}
}

// open returns a driver on table with a fresh prefix, disconnected when t
// ends.
func open(t *testing.T, client *awsdynamodb.Client, table string) *dynamodb.Driver {
	t.Helper()
	dr := dynamodb.New(dynamodb.Options{Client: client, Table: table, Prefix: testenv.Prefix(t)})
	if err := dr.Validate(); err != nil {
		t.Fatalf("Validate() = %v; want <nil>", err)
	}
	t.Cleanup(func() {
		if err := dr.Disconnect(); err != nil {
			t.Errorf("Disconnect() = %v; want <nil>", err)
		}
	})
	return dr
}

func TestDriver_L2(t *testing.T) {
	t.Parallel()
	client := newClient(t, nil)
	table := newTable(t, client)
	drivertest.L2(t, func(t *testing.T) bento.L2Driver { return open(t, client, table) },
		drivertest.Options{MaxValueSize: maxValue, AtomicPull: true})
}

// TestDriver_EmptyPrefix runs the suite on the root of tables of their
// own with no prefix, where Clear on the root scans and empties the table.
func TestDriver_EmptyPrefix(t *testing.T) {
	t.Parallel()
	client := newClient(t, nil)
	drivertest.L2(t, func(t *testing.T) bento.L2Driver {
		table := testenv.Prefix(t)
		dr := dynamodb.New(dynamodb.Options{Client: client, Table: table, CreateTable: true})
		t.Cleanup(func() {
			_ = dr.Disconnect()
			dropTable(t, client, table)
		})
		return dr
	}, drivertest.Options{MaxValueSize: maxValue})
}

// TestDriver_Owned runs a few calls on a client the driver builds from its
// options, as a driver loaded from config does.
func TestDriver_Owned(t *testing.T) {
	t.Parallel()
	endpoint := testenv.DynamoDB(t)
	table := newTable(t, newClient(t, nil))
	dr := dynamodb.New(dynamodb.Options{Endpoint: endpoint, Region: "eu-west-1", AccessKeyID: "bento", SecretAccessKey: "bento", Table: table, Prefix: "p"})
	if err := dr.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := dr.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatalf("Set = %v; want <nil>", err)
	}
	if v, found, err := dr.Get(ctx, "k"); err != nil || !found || string(v) != "v" {
		t.Errorf("Get = %q, %t, %v; want \"v\", true, <nil>", v, found, err)
	}
	if err := dr.Disconnect(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := dr.Get(ctx, "k"); !errors.Is(err, dynamodb.ErrClosed) {
		t.Errorf("Get after Disconnect = %v; want an error wrapping ErrClosed", err)
	}
}

// recorder is an http.RoundTripper that counts the keys of each batch
// request and can answer a request itself.
type recorder struct {
	mu sync.Mutex
	// batches holds, per operation, the number of keys or requests of
	// each call, in order.
	batches map[string][]int
	ops     []string
	// answer, when set, may answer a request (op, body) instead of the
	// service.
	answer func(op string, body []byte) []byte
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	op := strings.TrimPrefix(req.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	var in struct {
		RequestItems map[string]json.RawMessage
	}
	_ = json.Unmarshal(body, &in)
	n := 0
	for _, raw := range in.RequestItems {
		var ka struct{ Keys []json.RawMessage }
		var writes []json.RawMessage
		if json.Unmarshal(raw, &ka) == nil {
			n += len(ka.Keys)
		} else if json.Unmarshal(raw, &writes) == nil {
			n += len(writes)
		}
	}
	r.mu.Lock()
	if r.batches == nil {
		r.batches = map[string][]int{}
	}
	r.ops = append(r.ops, op)
	r.batches[op] = append(r.batches[op], n)
	answer := r.answer
	r.mu.Unlock()
	if answer != nil {
		if out := answer(op, body); out != nil {
			return &http.Response{
				StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
				Header:        http.Header{"Content-Type": {"application/x-amz-json-1.0"}, "Content-Length": {strconv.Itoa(len(out))}},
				Body:          io.NopCloser(bytes.NewReader(out)),
				ContentLength: int64(len(out)), Request: req,
			}, nil
		}
	}
	return http.DefaultTransport.RoundTrip(req)
}

// calls returns the keys per call of op, and resets the record.
func (r *recorder) calls(op string) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.batches[op]
	r.batches, r.ops = nil, nil
	return c
}

// TestDriver_GetManyChunks reads 250 keys, and a missing one, in one
// GetMany: three BatchGetItem requests of at most 100 keys.
func TestDriver_GetManyChunks(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	client := newClient(t, rec)
	dr := open(t, client, newTable(t, client))
	ctx := t.Context()
	const n = 250
	entries := make([]bento.KeyValue, n)
	ks := make([]string, 0, n+2)
	for i := range entries {
		entries[i] = bento.KeyValue{Key: fmt.Sprintf("k%03d", i), Value: []byte(fmt.Sprint(i))}
		ks = append(ks, entries[i].Key)
	}
	rec.calls("")
	if err := dr.SetMany(ctx, entries, time.Hour); err != nil {
		t.Fatalf("SetMany(%d entries) = %v; want <nil>", n, err)
	}
	writes := rec.calls("BatchWriteItem")
	if len(writes) != 10 {
		t.Errorf("SetMany(%d entries) sent %d BatchWriteItem requests (%v); want 10 of 25", n, len(writes), writes)
	}
	ks = append(ks, "missing", "k007") // a duplicate, as bento may ask
	values, err := dr.GetMany(ctx, ks)
	if err != nil {
		t.Fatalf("GetMany(%d keys) = %v; want <nil>", len(ks), err)
	}
	for i, k := range ks {
		want := ""
		switch {
		case k == "missing":
		case i == len(ks)-1:
			want = "7"
		default:
			want = fmt.Sprint(i)
		}
		if got := values[i]; string(got) != want || (want == "") != (got == nil) {
			t.Errorf("GetMany: slot %d (%q) = %q; want %q", i, k, got, want)
		}
	}
	gets := rec.calls("BatchGetItem")
	total := 0
	for _, c := range gets {
		total += c
		if c > 100 {
			t.Errorf("a BatchGetItem request carried %d keys; DynamoDB takes at most 100", c)
		}
	}
	if len(gets) != 3 || total != n+1 {
		t.Errorf("GetMany(%d keys, %d distinct) sent BatchGetItem requests of %v keys; want 3 requests, %d keys in all", len(ks), n+1, gets, n+1)
	}
}

// TestDriver_Unprocessed answers the first BatchGetItem and BatchWriteItem
// with every key unprocessed, as DynamoDB does under throttling: the
// driver retries them. A service that never processes them makes GetMany
// fail when its context ends.
func TestDriver_Unprocessed(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	client := newClient(t, rec)
	dr := open(t, client, newTable(t, client))
	ctx := t.Context()
	var (
		mu      sync.Mutex
		refused = map[string]bool{} // the ops refused once
		always  atomic.Bool
	)
	rec.answer = func(op string, body []byte) []byte {
		var in struct{ RequestItems json.RawMessage }
		mu.Lock()
		defer mu.Unlock()
		if json.Unmarshal(body, &in) != nil || (refused[op] && !always.Load()) {
			return nil
		}
		switch op {
		case "BatchGetItem":
			refused[op] = true
			return fmt.Appendf(nil, `{"Responses":{},"UnprocessedKeys":%s}`, in.RequestItems)
		case "BatchWriteItem":
			refused[op] = true
			return fmt.Appendf(nil, `{"UnprocessedItems":%s}`, in.RequestItems)
		}
		return nil
	}
	entries := []bento.KeyValue{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("2")}}
	if err := dr.SetMany(ctx, entries, 0); err != nil {
		t.Fatalf("SetMany = %v; want <nil>", err)
	}
	values, err := dr.GetMany(ctx, []string{"a", "b"})
	if err != nil || string(values[0]) != "1" || string(values[1]) != "2" {
		t.Fatalf("GetMany = %q, %v; want [1 2], <nil>", values, err)
	}
	if got := rec.calls("BatchWriteItem"); len(got) != 2 {
		t.Errorf("SetMany sent %d BatchWriteItem requests; want 2: one left unprocessed, one retry", len(got))
	}
	always.Store(true)
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = dr.GetMany(short, []string{"a"})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "unprocessed") {
		t.Errorf("GetMany with every key left unprocessed = %v; want an error about unprocessed keys wrapping context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("GetMany with a 300ms context returned after %v; the retries must end with the context", d)
	}
}

// TestDriver_ExpiredNotDeleted writes items whose expiry has passed but
// which DynamoDB has not deleted yet (it deletes lazily, and an emulator
// never): every read treats them as misses.
func TestDriver_ExpiredNotDeleted(t *testing.T) {
	t.Parallel()
	client := newClient(t, nil)
	table := newTable(t, client)
	prefix := testenv.Prefix(t)
	dr := dynamodb.New(dynamodb.Options{Client: client, Table: table, Prefix: prefix})
	ctx := t.Context()
	past := time.Now().Add(-time.Minute)
	put := func(key string, attrs map[string]types.AttributeValue) {
		t.Helper()
		pk, sk := dynamodb.EncodeKey(prefix + ":" + key)
		attrs["pk"] = &types.AttributeValueMemberS{Value: pk}
		attrs["sk"] = &types.AttributeValueMemberS{Value: sk}
		attrs["value"] = &types.AttributeValueMemberB{Value: []byte("stale")}
		if _, err := client.PutItem(ctx, &awsdynamodb.PutItemInput{TableName: &table, Item: attrs}); err != nil {
			t.Fatalf("PutItem(%q) = %v", key, err)
		}
	}
	put("by-ttl", map[string]types.AttributeValue{"ttl": &types.AttributeValueMemberN{Value: strconv.FormatInt(past.Unix(), 10)}})
	put("by-ms", map[string]types.AttributeValue{"expires_at_ms": &types.AttributeValueMemberN{Value: strconv.FormatInt(past.UnixMilli(), 10)}})
	put("live", map[string]types.AttributeValue{"ttl": &types.AttributeValueMemberN{Value: strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)}})
	for _, k := range []string{"by-ttl", "by-ms"} {
		if v, found, err := dr.Get(ctx, k); err != nil || found {
			t.Errorf("Get(ctx, %q) = %q, %t, %v on an item whose expiry has passed; want a miss", k, v, found, err)
		}
		if found, err := dr.Has(ctx, k); err != nil || found {
			t.Errorf("Has(ctx, %q) = %t, %v on an expired item; want false", k, found, err)
		}
	}
	values, err := dr.GetMany(ctx, []string{"by-ttl", "by-ms", "live"})
	if err != nil || values[0] != nil || values[1] != nil || string(values[2]) != "stale" {
		t.Errorf("GetMany(by-ttl, by-ms, live) = %q, %v; want [nil nil \"stale\"]", values, err)
	}
	if existed, err := dr.DeleteMany(ctx, []string{"by-ttl", "missing"}); err != nil || existed {
		t.Errorf("DeleteMany(by-ttl, missing) = %t, %v; want false: the only item had expired", existed, err)
	}
	if v, found, err := dr.Pull(ctx, "by-ms"); err != nil || found {
		t.Errorf("Pull(ctx, \"by-ms\") = %q, %t, %v on an expired item; want a miss", v, found, err)
	}
	if deleted, err := dr.Delete(ctx, "live"); err != nil || !deleted {
		t.Errorf("Delete(ctx, \"live\") = %t, %v; want true", deleted, err)
	}
}

// TestDriver_ClearNamespace clears one namespace, of more items than one
// batch delete takes, with a Query: another namespace, a sibling prefix
// of it, the root and another prefix keep their items, and nothing scans
// the table.
func TestDriver_ClearNamespace(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	client := newClient(t, rec)
	table := newTable(t, client)
	a, b := open(t, client, table), open(t, client, table)
	ctx := t.Context()
	users := a.Namespace("users")
	var entries []bento.KeyValue
	for i := range 60 {
		entries = append(entries, bento.KeyValue{Key: fmt.Sprint(i), Value: []byte("v")})
	}
	if err := users.(bento.L2BatchDriver).SetMany(ctx, entries, 0); err != nil {
		t.Fatal(err)
	}
	keep := map[string]bento.L2Driver{"posts:k": a, "usersX:k": a, "k": a, "users:k": b}
	for k, dr := range keep {
		if err := dr.Set(ctx, k, []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	rec.calls("")
	if err := users.Clear(ctx); err != nil {
		t.Fatalf("Namespace(\"users\").Clear = %v; want <nil>", err)
	}
	rec.mu.Lock()
	ops := strings.Join(rec.ops, " ")
	rec.mu.Unlock()
	if !strings.Contains(ops, "Query") || strings.Contains(ops, "Scan") {
		t.Errorf("Namespace(\"users\").Clear sent %s; want a Query and no Scan", ops)
	}
	if got := rec.calls("BatchWriteItem"); len(got) != 3 {
		t.Errorf("Clear of 60 items sent BatchWriteItem requests of %v; want 3", got)
	}
	for _, e := range entries {
		if _, found, err := users.Get(ctx, e.Key); err != nil || found {
			t.Errorf("Namespace(\"users\").Get(%q) after its Clear = %t, %v; want a miss", e.Key, found, err)
		}
	}
	for k, dr := range keep {
		if _, found, err := dr.Get(ctx, k); err != nil || !found {
			t.Errorf("Get(%q) after Namespace(\"users\").Clear of another prefix or namespace = %t, %v; want it kept", k, found, err)
		}
	}
}

// TestDriver_ItemTooLarge sets values past DynamoDB's item limit: Set and
// SetMany fail with ErrItemTooLarge naming the key, and write nothing.
func TestDriver_ItemTooLarge(t *testing.T) {
	t.Parallel()
	client := newClient(t, nil)
	dr := open(t, client, newTable(t, client))
	ctx := t.Context()
	big := make([]byte, dynamodb.MaxItemSize)
	err := dr.Set(ctx, "big-key", big, 0)
	if !errors.Is(err, dynamodb.ErrItemTooLarge) || !strings.Contains(err.Error(), "big-key") {
		t.Errorf("Set(ctx, \"big-key\", <%d bytes>, 0) = %v; want an error wrapping ErrItemTooLarge that names the key", len(big), err)
	}
	err = dr.SetMany(ctx, []bento.KeyValue{{Key: "small", Value: []byte("v")}, {Key: "huge", Value: big}}, 0)
	if !errors.Is(err, dynamodb.ErrItemTooLarge) || !strings.Contains(err.Error(), "huge") {
		t.Errorf("SetMany with one value of %d bytes = %v; want an error wrapping ErrItemTooLarge that names \"huge\"", len(big), err)
	}
	if _, found, _ := dr.Get(ctx, "small"); found {
		t.Errorf("SetMany that failed on a large value stored \"small\"; want nothing written")
	}
}

// TestDriver_Table checks the first call's look at the table: a missing
// table is an error without create_table, a table with another key schema
// is one always, and create_table creates an active table with the
// driver's schema.
func TestDriver_Table(t *testing.T) {
	t.Parallel()
	client := newClient(t, nil)
	ctx := t.Context()
	missing := testenv.Prefix(t)
	_, _, err := dynamodb.New(dynamodb.Options{Client: client, Table: missing}).Get(ctx, "k")
	if err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "create_table") {
		t.Errorf("Get on a missing table = %v; want an error naming the table and create_table", err)
	}

	other := testenv.Prefix(t)
	_, err = client.CreateTable(ctx, &awsdynamodb.CreateTableInput{
		TableName:            &other,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropTable(t, client, other) })
	err = dynamodb.New(dynamodb.Options{Client: client, Table: other, CreateTable: true}).Set(ctx, "k", []byte("v"), 0)
	if err == nil || !strings.Contains(err.Error(), `partition key "id"`) || !strings.Contains(err.Error(), `sort key "sk"`) {
		t.Errorf("Set on a table keyed by \"id\" = %v; want an error naming both schemas", err)
	}

	created := newTable(t, client)
	out, err := client.DescribeTable(ctx, &awsdynamodb.DescribeTableInput{TableName: &created})
	if err != nil {
		t.Fatal(err)
	}
	if out.Table.TableStatus != types.TableStatusActive || len(out.Table.KeySchema) != 2 {
		t.Errorf("table made by create_table: status %s, key schema %v; want ACTIVE, pk and sk", out.Table.TableStatus, out.Table.KeySchema)
	}
}

func TestDriver_UnmarshalCaddyfile(t *testing.T) {
	t.Parallel()
	tests := []caddyfiletest.Case{
		{Name: "Bare", Input: `dynamodb`, Want: `{}`},
		{Name: "ShortForm", Input: `dynamodb cache`, Want: `{"table":"cache"}`},
		{Name: "Block", Input: `dynamodb {
			table cache
			prefix app
			region eu-west-1
			endpoint http://127.0.0.1:4567
			profile prod
			access_key_id id
			secret_access_key secret
			session_token tok
			create_table
			partition_key p
			sort_key s
			ttl_attribute expires
		}`, Want: `{"table":"cache","prefix":"app","region":"eu-west-1","endpoint":"http://127.0.0.1:4567","profile":"prod","access_key_id":"id","secret_access_key":"secret","session_token":"tok","create_table":true,"partition_key":"p","sort_key":"s","ttl_attribute":"expires"}`},
	}
	caddyfiletest.JSON(t, func() *dynamodb.Driver { return new(dynamodb.Driver) }, tests)
	for _, tt := range []struct{ input, wantErr string }{
		{"dynamodb a b", "wrong argument count"},
		{"dynamodb {\n\tregion\n}", "region takes one value, got 0"},
		{"dynamodb {\n\tcreate_table yes\n}", `create_table takes no value, got "yes"`},
		{"dynamodb {\n\ttabel x\n}", `unknown dynamodb driver option "tabel"; known options: table, prefix,`},
	} {
		err := new(dynamodb.Driver).UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("UnmarshalCaddyfile(%q) = %v; want an error containing %q", tt.input, err, tt.wantErr)
		}
	}
}

func TestDriver_ConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, l2 string
		wantErr  []string
	}{
		{name: "Table", l2: `{"driver": "dynamodb", "table": "a b"}`,
			wantErr: []string{`stores.main.l2`, "bento.drivers.dynamodb", `dynamodb: table is "a b"`}},
		{name: "Endpoint", l2: `{"driver": "dynamodb", "endpoint": "127.0.0.1:4567"}`, wantErr: []string{"bento.drivers.dynamodb", `dynamodb: endpoint is "127.0.0.1:4567"`}},
		{name: "HalfCredentials", l2: `{"driver": "dynamodb", "access_key_id": "id"}`, wantErr: []string{"dynamodb: access_key_id and secret_access_key go together"}},
		{name: "SameAttribute", l2: `{"driver": "dynamodb", "sort_key": "pk"}`, wantErr: []string{`dynamodb: sort_key is "pk", the name of partition_key`}},
		{name: "ReservedAttribute", l2: `{"driver": "dynamodb", "ttl_attribute": "value"}`, wantErr: []string{`dynamodb: ttl_attribute is "value", the name of the value attribute`}},
		{name: "Unknown", l2: `{"driver": "dynamodb", "tabel": "x"}`, wantErr: []string{"bento.drivers.dynamodb", "tabel", "table"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := fmt.Sprintf(`{"stores": {"main": {"l1": {"driver": "memory"}, "l2": %s}}}`, tt.l2)
			configtest.LoadFails(t, cfg, tt.wantErr...)
		})
	}
	mixed := dynamodb.New(dynamodb.Options{Client: awsdynamodb.New(awsdynamodb.Options{}), Region: "eu-west-1"})
	if err := mixed.Validate(); err == nil || !strings.Contains(err.Error(), "client and region are both set") {
		t.Errorf("Validate() of a driver with a client and a region = %v; want an error naming both", err)
	}
}

// TestLoadJSON_Driver loads two stores whose L2 is the dynamodb driver on
// a table it creates, and reads through one what the other wrote.
func TestLoadJSON_Driver(t *testing.T) {
	t.Parallel()
	endpoint := testenv.DynamoDB(t)
	client := newClient(t, nil)
	table := testenv.Prefix(t)
	t.Cleanup(func() { dropTable(t, client, table) })
	load := func(store string) *bento.Bento {
		cfg := fmt.Sprintf(`{"stores": {%q: {"prefix": "p", "l1": {"driver": "memory"},
			"l2": {"driver": "dynamodb", "endpoint": %q, "access_key_id": "bento", "secret_access_key": "bento", "table": %q, "create_table": true}}}}`, store, endpoint, table)
		return configtest.Load(t, cfg)
	}
	a, b := load("a"), load("b")
	if err := a.Default().Set(t.Context(), "k", "v"); err != nil {
		t.Fatalf("Set through the dynamodb L2 = %v; want <nil>", err)
	}
	v, found, err := bento.Get[string](t.Context(), b.Default(), "k")
	if err != nil || !found || v != "v" {
		t.Errorf("Get on a second instance = %q, %v, %v; want \"v\", true, <nil>: it reads the shared table", v, found, err)
	}
	pk, sk := dynamodb.EncodeKey("p:k")
	out, err := client.GetItem(t.Context(), &awsdynamodb.GetItemInput{TableName: &table, Key: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: pk}, "sk": &types.AttributeValueMemberS{Value: sk},
	}})
	if err != nil || out.Item == nil {
		t.Errorf("GetItem(pk %q, sk %q) = %v, %v; want the item of store prefix \"p\", key \"k\"", pk, sk, out, err)
	}
}
