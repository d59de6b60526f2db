package dynamodb

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/bentocache/bento"
)

const (
	// maxBatchGet and maxBatchWrite are DynamoDB's limits on the keys of
	// one BatchGetItem and the requests of one BatchWriteItem.
	maxBatchGet   = 100
	maxBatchWrite = 25
	// minPause and maxPause bound the pause before retrying what a batch
	// call left unprocessed, or looking again at a table being created:
	// it doubles from minPause up to maxPause, with jitter.
	minPause = 25 * time.Millisecond
	maxPause = 2 * time.Second
	// keyAndExpiry projects an item onto what tells whether it is live.
	keyAndExpiry = "#pk, #sk, #exp, #ttl"
)

// GetMany returns one slot per key, in order, nil where a key is missing or
// expired. It reads with BatchGetItem, strongly consistent, 100 distinct
// keys a request, and retries the keys that DynamoDB leaves unprocessed
// (under throttling, or past 16 MB of response) with a growing pause,
// until ctx ends.
func (dr *Driver) GetMany(ctx context.Context, ks []string) ([][]byte, error) {
	values := make([][]byte, len(ks))
	if len(ks) == 0 {
		return values, nil
	}
	err := dr.do(ctx, func(ctx context.Context, c *conn) error {
		return c.batchGet(ctx, dr.keys(ks), "", func(slots []int, item map[string]types.AttributeValue) error {
			v, found, err := c.entry(item, time.Now())
			if err != nil {
				k, _ := c.keyOf(item)
				return fmt.Errorf("item %q/%q: %w", k.pk, k.sk, err)
			}
			if found {
				for _, i := range slots {
					values[i] = v
				}
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("dynamodb: get many (%d keys): %w", len(ks), err)
	}
	return values, nil
}

// SetMany stores every entry with the same ttl (<= 0: no expiry), with
// BatchWriteItem, 25 items a request, retrying what DynamoDB leaves
// unprocessed as GetMany does. Of entries with the same key, the last one
// is stored. If any entry's item would pass [MaxItemSize], nothing is
// written and the error names its key. A batch is not a transaction: after
// an error, some entries may be stored.
func (dr *Driver) SetMany(ctx context.Context, entries []bento.KeyValue, ttl time.Duration) error {
	if len(entries) == 0 {
		return nil
	}
	err := dr.do(ctx, func(ctx context.Context, c *conn) error {
		exp := expiry(time.Now(), ttl)
		at := make(map[itemKey]int, len(entries))
		reqs := make([]types.WriteRequest, 0, len(entries))
		for _, e := range entries {
			item, err := c.item(dr.key(e.Key), e.Value, exp)
			if err != nil {
				return err
			}
			put := types.WriteRequest{PutRequest: &types.PutRequest{Item: item}}
			k, _ := c.keyOf(item)
			if i, dup := at[k]; dup {
				reqs[i] = put // one request a key: DynamoDB rejects duplicates
				continue
			}
			at[k] = len(reqs)
			reqs = append(reqs, put)
		}
		return c.batchWrite(ctx, reqs)
	})
	if err != nil {
		return fmt.Errorf("dynamodb: set many (%d entries): %w", len(entries), err)
	}
	return nil
}

// DeleteMany removes keys and reports whether any of them held an entry
// that had not expired: a BatchGetItem of their keys and expiries, then
// BatchWriteItem deletes of every key, found or not, so that a key written
// between the two is deleted all the same. An empty list sends nothing.
func (dr *Driver) DeleteMany(ctx context.Context, ks []string) (bool, error) {
	if len(ks) == 0 {
		return false, nil
	}
	existed := false
	err := dr.do(ctx, func(ctx context.Context, c *conn) error {
		full := dr.keys(ks)
		err := c.batchGet(ctx, full, keyAndExpiry, func(_ []int, item map[string]types.AttributeValue) error {
			existed = existed || live(item, c.o.TTLAttribute, time.Now())
			return nil
		})
		if err != nil {
			return err
		}
		uniq, _ := unique(full)
		reqs := make([]types.WriteRequest, len(uniq))
		for i, k := range uniq {
			reqs[i] = types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: c.primary(k)}}
		}
		return c.batchWrite(ctx, reqs)
	})
	if err != nil {
		return existed, fmt.Errorf("dynamodb: delete many (%d keys): %w", len(ks), err)
	}
	return existed, nil
}

// keys returns the full keys of ks.
func (dr *Driver) keys(ks []string) []string {
	full := make([]string, len(ks))
	for i, k := range ks {
		full[i] = dr.key(k)
	}
	return full
}

// unique returns the distinct item keys of the full keys, in their first
// order, and the slots of each.
func unique(full []string) ([]itemKey, map[itemKey][]int) {
	slots := make(map[itemKey][]int, len(full))
	var uniq []itemKey
	for i, k := range full {
		ik := encodeKey(k)
		if _, seen := slots[ik]; !seen {
			uniq = append(uniq, ik)
		}
		slots[ik] = append(slots[ik], i)
	}
	return uniq, slots
}

// batchGet reads the items of the full keys with BatchGetItem, 100
// distinct keys a request, strongly consistent, with the projection given
// ("" for whole items), and calls f with each item found and the slots of
// full it is for.
func (c *conn) batchGet(ctx context.Context, full []string, projection string, f func(slots []int, item map[string]types.AttributeValue) error) error {
	uniq, slots := unique(full)
	for chunk := range slices.Chunk(uniq, maxBatchGet) {
		pending := types.KeysAndAttributes{ConsistentRead: aws.Bool(true), Keys: make([]map[string]types.AttributeValue, len(chunk))}
		if projection != "" {
			pending.ProjectionExpression, pending.ExpressionAttributeNames = &projection, c.expiryNames()
		}
		for i, k := range chunk {
			pending.Keys[i] = c.primary(k)
		}
		err := retry(ctx, func() (int, error) {
			out, err := c.client.BatchGetItem(ctx, &awsdynamodb.BatchGetItemInput{
				RequestItems: map[string]types.KeysAndAttributes{c.o.Table: pending},
			})
			if err != nil {
				return 0, err
			}
			for _, item := range out.Responses[c.o.Table] {
				k, _ := c.keyOf(item)
				if err := f(slots[k], item); err != nil {
					return 0, err
				}
			}
			pending = out.UnprocessedKeys[c.o.Table]
			return len(pending.Keys), nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// batchWrite sends reqs (one per item) with BatchWriteItem, 25 a request.
func (c *conn) batchWrite(ctx context.Context, reqs []types.WriteRequest) error {
	for chunk := range slices.Chunk(reqs, maxBatchWrite) {
		pending := chunk
		err := retry(ctx, func() (int, error) {
			out, err := c.client.BatchWriteItem(ctx, &awsdynamodb.BatchWriteItemInput{
				RequestItems: map[string][]types.WriteRequest{c.o.Table: pending},
			})
			if err != nil {
				return 0, err
			}
			pending = out.UnprocessedItems[c.o.Table]
			return len(pending), nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// clear deletes every item under base: the items of a Query of its
// partition on the sort-key prefix of its namespace, or of a Scan of the
// table when base is empty, page by page.
func (c *conn) clear(ctx context.Context, base string) error {
	pk, skPrefix, all := clearRange(base)
	if len(skPrefix) > maxSortKey {
		return nil // no sort key is that long: nothing is stored under it
	}
	names := map[string]string{"#pk": c.o.PartitionKey, "#sk": c.o.SortKey}
	del := func(items []map[string]types.AttributeValue) error {
		reqs := make([]types.WriteRequest, 0, len(items))
		for _, item := range items {
			k, ok := c.keyOf(item)
			if !ok || (!all && skPrefix == "" && k.sk == noSeparator) {
				continue // the key that is base itself is not under it
			}
			reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: c.primary(k)}})
		}
		return c.batchWrite(ctx, reqs)
	}
	// next reads the next page of keys; more reports whether there is one.
	var (
		next func(context.Context) ([]map[string]types.AttributeValue, error)
		more func() bool
	)
	if all {
		pages := awsdynamodb.NewScanPaginator(c.client, &awsdynamodb.ScanInput{
			TableName: &c.o.Table, ConsistentRead: aws.Bool(true),
			ProjectionExpression: aws.String("#pk, #sk"), ExpressionAttributeNames: names,
		})
		more = pages.HasMorePages
		next = func(ctx context.Context) ([]map[string]types.AttributeValue, error) {
			out, err := pages.NextPage(ctx)
			if err != nil {
				return nil, err
			}
			return out.Items, nil
		}
	} else {
		in := &awsdynamodb.QueryInput{
			TableName: &c.o.Table, ConsistentRead: aws.Bool(true),
			KeyConditionExpression: aws.String("#pk = :pk"),
			ProjectionExpression:   aws.String("#pk, #sk"), ExpressionAttributeNames: names,
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}},
		}
		if skPrefix != "" {
			in.KeyConditionExpression = aws.String("#pk = :pk AND begins_with(#sk, :prefix)")
			in.ExpressionAttributeValues[":prefix"] = &types.AttributeValueMemberS{Value: skPrefix}
		}
		pages := awsdynamodb.NewQueryPaginator(c.client, in)
		more = pages.HasMorePages
		next = func(ctx context.Context) ([]map[string]types.AttributeValue, error) {
			out, err := pages.NextPage(ctx)
			if err != nil {
				return nil, err
			}
			return out.Items, nil
		}
	}
	for more() {
		items, err := next(ctx)
		if err != nil {
			return err
		}
		if err := del(items); err != nil {
			return err
		}
	}
	return nil
}

// keyOf returns the primary key of item.
func (c *conn) keyOf(item map[string]types.AttributeValue) (itemKey, bool) {
	pk, ok1 := item[c.o.PartitionKey].(*types.AttributeValueMemberS)
	sk, ok2 := item[c.o.SortKey].(*types.AttributeValueMemberS)
	if !ok1 || !ok2 {
		return itemKey{}, false
	}
	return itemKey{pk: pk.Value, sk: sk.Value}, true
}

// retry calls f until it leaves nothing unprocessed or fails, pausing
// between calls (see pause) and giving up when ctx ends.
func retry(ctx context.Context, f func() (unprocessed int, err error)) error {
	for attempt := 0; ; attempt++ {
		n, err := f()
		if err != nil || n == 0 {
			return err
		}
		if err := pause(ctx, attempt); err != nil {
			return fmt.Errorf("DynamoDB left %d items unprocessed: %w", n, err)
		}
	}
}

// pause waits before the next of several attempts: minPause doubled at
// each attempt up to maxPause, half of it random, or until ctx ends.
func pause(ctx context.Context, attempt int) error {
	d := maxPause
	if attempt < 8 {
		d = min(maxPause, minPause<<attempt)
	}
	d = d/2 + rand.N(d/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
