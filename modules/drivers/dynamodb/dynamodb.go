// Package dynamodb is bento's L2 driver on an Amazon DynamoDB table
// (module bento.drivers.dynamodb), through the AWS SDK for Go v2.
//
// Every entry is one item. bento's "prefix:namespace:key" layout is split
// at its first ":": the first part is the item's partition key and the
// rest its sort key ([EncodeKey]), so that clearing a namespace is a Query
// of one partition on a sort-key prefix, followed by batch deletes, and
// never reads another prefix's items. Every read is strongly consistent
// and checks the entry's expiry itself: DynamoDB's own TTL deletes expired
// items lazily, hours or days later (see docs/drivers/dynamodb.md).
//
//	dr := dynamodb.New(dynamodb.Options{Client: client, Table: "cache"})
//	defer dr.Disconnect()
//	store := bento.NewStore().UseL1(l1).UseL2(dr)
package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/abridge"
	"github.com/bentocache/bento/internal/keys"
)

func init() { caddy.RegisterModule(Driver{}) }

// The defaults of a driver's table and attribute names.
const (
	DefaultTable        = "bento"
	DefaultPartitionKey = "pk"
	DefaultSortKey      = "sk"
	DefaultTTLAttribute = "ttl"
)

const (
	// MaxItemSize is DynamoDB's limit on the size of an item: its
	// attribute names and values together, 400 KB of 1024 bytes. A value
	// whose item would pass it is not stored ([ErrItemTooLarge]).
	MaxItemSize = 400 << 10

	// valueAttr holds the entry's bytes, expiresAttr its expiry in unix
	// milliseconds (absent: never).
	valueAttr   = "value"
	expiresAttr = "expires_at_ms"
	// numberSize bounds the size DynamoDB counts for a number: one byte
	// per two of its (at most 38) digits, and one.
	numberSize = 21

	// opTimeout bounds a call whose context has no deadline, and
	// setupTimeout the first call's look at the table (and its creation
	// with create_table): the SDK sets no overall limit on a request.
	opTimeout    = 10 * time.Second
	setupTimeout = 2 * time.Minute
)

var (
	// ErrClosed is wrapped by the errors of a driver's calls after
	// [Driver.Disconnect].
	ErrClosed = errors.New("dynamodb: driver closed")
	// ErrItemTooLarge is wrapped by the error of a Set or SetMany whose
	// value, with its key and attributes, would pass [MaxItemSize]. The
	// error names the key; nothing is written.
	ErrItemTooLarge = errors.New("dynamodb: item over DynamoDB's 400 KB item size limit")
)

// Driver is a [bento.L2Driver] and [bento.L2BatchDriver] on a DynamoDB
// table. Module ID: bento.drivers.dynamodb; it serves the L2 layer only.
// A Driver and the views returned by [Driver.Namespace] share one client
// and table. A Driver is safe for concurrent use.
//
// The exported fields are the module's JSON config, read by
// [Driver.Provision]; a Driver built by [New] takes its settings from
// [Options] instead.
type Driver struct {
	// Name of the table: 3 to 255 letters, digits, "_", "-" and ".".
	// Default: "bento".
	Table string `json:"table,omitempty"`
	// Put before every key, as "prefix:namespace:key" (the store's own
	// prefix comes after it). The first part of a key is its item's
	// partition key: the driver's prefix, or without one the store's.
	// Default: none.
	Prefix string `json:"prefix,omitempty"`
	// AWS region of the table, e.g. "eu-west-1". Default: the SDK's
	// (AWS_REGION, the shared config file); with endpoint and no region
	// anywhere, "us-east-1".
	Region string `json:"region,omitempty"`
	// URL of the DynamoDB endpoint, for a local emulator
	// ("http://127.0.0.1:4567") or a VPC endpoint. Default: the region's.
	Endpoint string `json:"endpoint,omitempty"`
	// Profile of the shared AWS config and credentials files. Default:
	// AWS_PROFILE, or "default".
	Profile string `json:"profile,omitempty"`
	// Access key ID of static credentials, with secret_access_key.
	// Default: the SDK's credential chain (environment, shared files, web
	// identity, container or instance role); prefer it in production.
	AccessKeyID string `json:"access_key_id,omitempty"`
	// Secret of access_key_id; "{env.AWS_SECRET_ACCESS_KEY}" keeps it out
	// of the file. Default: none.
	SecretAccessKey string `json:"secret_access_key,omitempty"`
	// Session token of temporary static credentials. Default: none.
	SessionToken string `json:"session_token,omitempty"`
	// Create the table on first use if it does not exist (on-demand
	// capacity, TTL enabled on ttl_attribute), and wait until it is
	// active. Default: false, and a missing table is an error.
	CreateTable bool `json:"create_table,omitempty"`
	// Name of the table's partition key attribute (a string). Default:
	// "pk".
	PartitionKey string `json:"partition_key,omitempty"`
	// Name of the table's sort key attribute (a string). Default: "sk".
	SortKey string `json:"sort_key,omitempty"`
	// Name of the attribute holding an entry's expiry in unix seconds,
	// the table's TTL attribute. Default: "ttl".
	TTLAttribute string `json:"ttl_attribute,omitempty"`

	c *conn
	// base is the prefix and namespaces joined by keys.Separator.
	base string
}

// Options configures a [Driver]; see [New]. The zero value is valid: a
// driver on table [DefaultTable], with the SDK's region and credentials.
type Options struct {
	// Client is a client the application already has. Nil means that the
	// driver builds one, on first use, from the SDK's default config and
	// the connection fields below. A client has nothing to close; the
	// driver never changes one it was given.
	Client *awsdynamodb.Client

	// Region, Endpoint, Profile, AccessKeyID, SecretAccessKey and
	// SessionToken are those of a client the driver builds; see the JSON
	// fields of [Driver].
	Region, Endpoint, Profile                  string
	AccessKeyID, SecretAccessKey, SessionToken string

	// Table is the table's name. Default: [DefaultTable].
	Table string
	// Prefix is the first part of every key. Default: none.
	Prefix string
	// CreateTable creates the table on first use when it is missing.
	CreateTable bool
	// PartitionKey, SortKey and TTLAttribute are the table's attribute
	// names. Defaults: [DefaultPartitionKey], [DefaultSortKey],
	// [DefaultTTLAttribute].
	PartitionKey, SortKey, TTLAttribute string
}

// conn is the state that a Driver and its namespace views share.
type conn struct {
	o Options
	// mixed names a connection field set together with Options.Client.
	mixed string

	// setup holds one token: the first calls take turns to build the
	// client and look at the table, waiting no longer than their context.
	setup  chan struct{}
	ready  atomic.Bool
	closed atomic.Bool
	client *awsdynamodb.Client
	// idle closes the idle connections of the HTTP client of a client
	// the driver built; Disconnect calls it.
	idleMu sync.Mutex
	idle   func()
}

// New returns a driver on o.Client, or on a client it builds from the
// connection fields of o. It does no I/O and never fails: the client is
// built, and the table looked at (or created), by the first call, and
// invalid options are reported by [Driver.Validate], which bento.New
// calls.
func New(o Options) *Driver {
	return &Driver{c: newConn(o), base: o.Prefix}
}

// newConn applies the defaults of o to a copy.
func newConn(o Options) *conn {
	c := &conn{setup: make(chan struct{}, 1)}
	if o.Client != nil {
		c.client = o.Client
		for _, f := range []struct{ name, v string }{
			{"region", o.Region}, {"endpoint", o.Endpoint}, {"profile", o.Profile},
			{"access_key_id", o.AccessKeyID}, {"secret_access_key", o.SecretAccessKey}, {"session_token", o.SessionToken},
		} {
			if f.v != "" {
				c.mixed = f.name
				break
			}
		}
	}
	if o.Table == "" {
		o.Table = DefaultTable
	}
	if o.PartitionKey == "" {
		o.PartitionKey = DefaultPartitionKey
	}
	if o.SortKey == "" {
		o.SortKey = DefaultSortKey
	}
	if o.TTLAttribute == "" {
		o.TTLAttribute = DefaultTTLAttribute
	}
	c.o = o
	return c
}

// CaddyModule returns the Caddy module information.
func (Driver) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "bento.drivers.dynamodb", New: func() caddy.Module { return new(Driver) }}
}

// Provision builds the driver from its JSON fields. No I/O: the client is
// built, and the table looked at, on first use.
func (dr *Driver) Provision(caddy.Context) error {
	dr.c = newConn(Options{
		Region: dr.Region, Endpoint: dr.Endpoint, Profile: dr.Profile,
		AccessKeyID: dr.AccessKeyID, SecretAccessKey: dr.SecretAccessKey, SessionToken: dr.SessionToken,
		Table: dr.Table, Prefix: dr.Prefix, CreateTable: dr.CreateTable,
		PartitionKey: dr.PartitionKey, SortKey: dr.SortKey, TTLAttribute: dr.TTLAttribute,
	})
	dr.base = dr.Prefix
	return nil
}

var tablePattern = regexp.MustCompile(`^[a-zA-Z0-9_.-]{3,255}$`)

// Validate reports options the driver cannot honour: a client together
// with connection fields, half of a static credential, an endpoint that is
// not an http or https URL, a table name DynamoDB rejects, attribute names
// that are too long or not distinct. It does no I/O.
func (dr *Driver) Validate() error {
	c := dr.c
	if c == nil {
		return nil
	}
	o := c.o
	if c.mixed != "" {
		return fmt.Errorf("dynamodb: client and %s are both set: connection options apply only to a client the driver builds, configure the client instead", c.mixed)
	}
	if (o.AccessKeyID == "") != (o.SecretAccessKey == "") || (o.SessionToken != "" && o.AccessKeyID == "") {
		return errors.New("dynamodb: access_key_id and secret_access_key go together (session_token needs both): set both, or neither to use the SDK's credential chain")
	}
	if o.Endpoint != "" {
		u, err := url.Parse(o.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("dynamodb: endpoint is %q: want an http:// or https:// URL with a host", abridge.String(o.Endpoint))
		}
	}
	if !tablePattern.MatchString(o.Table) {
		return fmt.Errorf("dynamodb: table is %q: a table name has 3 to 255 letters, digits, \"_\", \"-\" and \".\"", abridge.String(o.Table))
	}
	seen := map[string]string{valueAttr: "the value attribute", expiresAttr: "the expiry attribute"}
	for _, a := range []struct{ field, name string }{
		{"partition_key", o.PartitionKey}, {"sort_key", o.SortKey}, {"ttl_attribute", o.TTLAttribute},
	} {
		if len(a.name) > 255 {
			return fmt.Errorf("dynamodb: %s is %d bytes long: an attribute name has at most 255", a.field, len(a.name))
		}
		if other, dup := seen[a.name]; dup {
			return fmt.Errorf("dynamodb: %s is %q, the name of %s: the attributes need distinct names", a.field, a.name, other)
		}
		seen[a.name] = a.field
	}
	return nil
}

// Cleanup disconnects the driver; see [Driver.Disconnect].
func (dr *Driver) Cleanup() error {
	if dr.c == nil {
		return nil
	}
	return dr.Disconnect()
}

// Namespace returns a view of the same table under "<current>:<namespace>".
func (dr *Driver) Namespace(namespace string) bento.L2Driver {
	return &Driver{c: dr.c, base: keys.Join(dr.base, namespace)}
}

// Get returns the bytes stored under key, if any and not expired. An
// expired item that DynamoDB has not deleted yet is a miss.
func (dr *Driver) Get(ctx context.Context, key string) ([]byte, bool, error) {
	k := dr.key(key)
	var (
		v     []byte
		found bool
	)
	err := dr.do(ctx, func(ctx context.Context, c *conn) error {
		out, err := c.client.GetItem(ctx, &awsdynamodb.GetItemInput{
			TableName: &c.o.Table, Key: c.primary(encodeKey(k)), ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			return err
		}
		v, found, err = c.entry(out.Item, time.Now())
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("dynamodb: get %s: %w", abridge.Quote(k), err)
	}
	return v, found, nil
}

// Pull returns the bytes stored under key and deletes them, in one
// DeleteItem that returns the item it deleted: of several concurrent Pulls
// of one key, one gets the value.
func (dr *Driver) Pull(ctx context.Context, key string) ([]byte, bool, error) {
	k := dr.key(key)
	v, found, err := dr.deleteItem(ctx, k)
	if err != nil {
		return nil, false, fmt.Errorf("dynamodb: pull %s: %w", abridge.Quote(k), err)
	}
	return v, found, nil
}

// Set stores value under key, expiring after ttl (ttl <= 0: never). A value
// whose item would pass [MaxItemSize] is not stored: the error wraps
// [ErrItemTooLarge] and names the key.
func (dr *Driver) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	k := dr.key(key)
	err := dr.do(ctx, func(ctx context.Context, c *conn) error {
		item, err := c.item(k, value, expiry(time.Now(), ttl))
		if err != nil {
			return err
		}
		_, err = c.client.PutItem(ctx, &awsdynamodb.PutItemInput{TableName: &c.o.Table, Item: item})
		return err
	})
	if err != nil {
		return fmt.Errorf("dynamodb: set %s: %w", abridge.Quote(k), err)
	}
	return nil
}

// Has reports whether key holds an entry that has not expired. It reads
// the item's key and expiry only.
func (dr *Driver) Has(ctx context.Context, key string) (bool, error) {
	k := dr.key(key)
	var found bool
	err := dr.do(ctx, func(ctx context.Context, c *conn) error {
		out, err := c.client.GetItem(ctx, &awsdynamodb.GetItemInput{
			TableName: &c.o.Table, Key: c.primary(encodeKey(k)), ConsistentRead: aws.Bool(true),
			ProjectionExpression: aws.String(keyAndExpiry), ExpressionAttributeNames: c.expiryNames(),
		})
		if err != nil {
			return err
		}
		found = out.Item != nil && live(out.Item, c.o.TTLAttribute, time.Now())
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("dynamodb: has %s: %w", abridge.Quote(k), err)
	}
	return found, nil
}

// Clear removes every key under this view's prefix and namespace: a Query
// of the partition of its prefix, on the sort-key prefix of its namespace
// (the whole partition on the root of a driver with a prefix), and batch
// deletes of what it finds, 25 items a request. Only the root of a driver
// with an empty prefix, which owns every item of the table, scans the
// table. Items of other prefixes are never read.
func (dr *Driver) Clear(ctx context.Context) error {
	err := dr.do(ctx, func(ctx context.Context, c *conn) error {
		return c.clear(ctx, dr.base)
	})
	if err != nil {
		return fmt.Errorf("dynamodb: clear %s: %w", abridge.Quote(keys.ClearPrefix(dr.base)), err)
	}
	return nil
}

// Delete removes key and reports whether it held an entry that had not
// expired, in one DeleteItem.
func (dr *Driver) Delete(ctx context.Context, key string) (bool, error) {
	k := dr.key(key)
	_, found, err := dr.deleteItem(ctx, k)
	if err != nil {
		return false, fmt.Errorf("dynamodb: delete %s: %w", abridge.Quote(k), err)
	}
	return found, nil
}

// Disconnect makes every later call of the driver, and of its views, fail
// with [ErrClosed], and closes the idle connections of a client the driver
// built. A client passed in [Options.Client] is left as it is. Calling it
// twice is fine.
func (dr *Driver) Disconnect() error {
	c := dr.c
	if c.closed.Swap(true) {
		return nil
	}
	c.idleMu.Lock()
	idle := c.idle
	c.idleMu.Unlock()
	if idle != nil {
		idle()
	}
	return nil
}

// Ping looks at the table (DescribeTable): an error says that DynamoDB
// does not answer, or that the table is missing or not as the driver needs
// it.
func (dr *Driver) Ping(ctx context.Context) error {
	err := dr.do(ctx, func(ctx context.Context, c *conn) error {
		_, err := c.client.DescribeTable(ctx, &awsdynamodb.DescribeTableInput{TableName: &c.o.Table})
		return err
	})
	if err != nil {
		return fmt.Errorf("dynamodb: ping: %w", err)
	}
	return nil
}

// key returns the full "prefix:namespace:key" of key.
func (dr *Driver) key(key string) string { return keys.Join(dr.base, key) }

// do runs f on the shared state once the client is built and the table
// checked, under ctx bounded by opTimeout when it has no deadline.
func (dr *Driver) do(ctx context.Context, f func(ctx context.Context, c *conn) error) error {
	c := dr.c
	if err := c.prepare(ctx); err != nil {
		return err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opTimeout)
		defer cancel()
	}
	return f(ctx, c)
}

// deleteItem deletes the item of the full key k and returns the entry it
// held, if that had not expired.
func (dr *Driver) deleteItem(ctx context.Context, k string) (v []byte, found bool, err error) {
	err = dr.do(ctx, func(ctx context.Context, c *conn) error {
		out, err := c.client.DeleteItem(ctx, &awsdynamodb.DeleteItemInput{
			TableName: &c.o.Table, Key: c.primary(encodeKey(k)), ReturnValues: types.ReturnValueAllOld,
		})
		if err != nil {
			return err
		}
		v, found, err = c.entry(out.Attributes, time.Now())
		return err
	})
	return v, found, err
}

// primary returns the primary key attributes of k.
func (c *conn) primary(k itemKey) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		c.o.PartitionKey: &types.AttributeValueMemberS{Value: k.pk},
		c.o.SortKey:      &types.AttributeValueMemberS{Value: k.sk},
	}
}

// expiryNames are the expression names of the projection of an item's key
// and expiry.
func (c *conn) expiryNames() map[string]string {
	return map[string]string{"#pk": c.o.PartitionKey, "#sk": c.o.SortKey, "#exp": expiresAttr, "#ttl": c.o.TTLAttribute}
}

// item returns the item that stores value under the full key k until exp
// (unix milliseconds, 0: never), or an error wrapping ErrItemTooLarge.
func (c *conn) item(k string, value []byte, exp int64) (map[string]types.AttributeValue, error) {
	ik := encodeKey(k)
	size := len(c.o.PartitionKey) + len(ik.pk) + len(c.o.SortKey) + len(ik.sk) + len(valueAttr) + len(value)
	if exp != 0 {
		size += len(expiresAttr) + len(c.o.TTLAttribute) + 2*numberSize
	}
	if size > MaxItemSize {
		return nil, fmt.Errorf("%w: the item of %s would be %d bytes (a value of %d bytes), DynamoDB takes at most %d", ErrItemTooLarge, abridge.Quote(k), size, len(value), MaxItemSize)
	}
	item := c.primary(ik)
	item[valueAttr] = &types.AttributeValueMemberB{Value: value}
	if exp != 0 {
		item[expiresAttr] = &types.AttributeValueMemberN{Value: strconv.FormatInt(exp, 10)}
		// DynamoDB's TTL takes unix seconds: rounded up, it never deletes
		// an item before its expiry.
		item[c.o.TTLAttribute] = &types.AttributeValueMemberN{Value: strconv.FormatInt(exp/1000+min(exp%1000, 1), 10)}
	}
	return item, nil
}

// entry returns the value of item, read at now, and whether there is one:
// a nil item, and an item that has expired, are misses. An item without a
// binary value attribute is not a bento entry, and an error.
func (c *conn) entry(item map[string]types.AttributeValue, now time.Time) ([]byte, bool, error) {
	if item == nil || !live(item, c.o.TTLAttribute, now) {
		return nil, false, nil
	}
	b, ok := item[valueAttr].(*types.AttributeValueMemberB)
	if !ok {
		return nil, false, fmt.Errorf("the item has no binary %q attribute: it is not a bento entry", valueAttr)
	}
	if b.Value == nil {
		return []byte{}, true, nil
	}
	return b.Value, true, nil
}

// live reports whether item has not expired at now: by its expiry in
// milliseconds, and by its TTL attribute in seconds (set by the driver, or
// by anyone else), whichever comes first. DynamoDB deletes expired items
// in the background, up to days later, and until then reads return them.
func live(item map[string]types.AttributeValue, ttlAttr string, now time.Time) bool {
	ms := now.UnixMilli()
	if exp, ok := number(item[expiresAttr]); ok && ms >= exp {
		return false
	}
	if sec, ok := number(item[ttlAttr]); ok && ms/1000 >= sec {
		return false
	}
	return true
}

// number returns the value of a number attribute, truncated to an
// integer, and whether v is one.
func number(v types.AttributeValue) (int64, bool) {
	n, ok := v.(*types.AttributeValueMemberN)
	if !ok {
		return 0, false
	}
	if i, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
		return i, true
	}
	f, err := strconv.ParseFloat(n.Value, 64)
	if err != nil {
		return 0, false
	}
	return int64(max(min(f, math.MaxInt64), math.MinInt64)), true
}

// expiry returns the unix milliseconds at which an entry set at now with
// ttl expires: 0 (never) for ttl <= 0, at least a millisecond after now,
// saturated at the largest int64.
func expiry(now time.Time, ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	ms := max(ttl.Milliseconds(), 1)
	n := now.UnixMilli()
	if ms > math.MaxInt64-n {
		return math.MaxInt64
	}
	return n + ms
}

// Interface guards
var (
	_ bento.L2Driver      = (*Driver)(nil)
	_ bento.L2BatchDriver = (*Driver)(nil)
	_ bento.Pinger        = (*Driver)(nil)
	_ bento.Validator     = (*Driver)(nil)

	_ caddy.Provisioner     = (*Driver)(nil)
	_ caddy.Validator       = (*Driver)(nil)
	_ caddy.CleanerUpper    = (*Driver)(nil)
	_ caddyfile.Unmarshaler = (*Driver)(nil)
)
