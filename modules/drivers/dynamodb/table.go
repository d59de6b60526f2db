package dynamodb

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// emulatorRegion is the region a client the driver builds signs with when
// it has an endpoint and no region from anywhere: a local emulator takes
// any.
const emulatorRegion = "us-east-1"

// prepare builds the client and checks the table (creating it with
// create_table) on the first call that gets that far; until one succeeds,
// every call tries again. Calls wait for one another's setup no longer than
// their context.
func (c *conn) prepare(ctx context.Context) error {
	if c.closed.Load() {
		return ErrClosed
	}
	if c.ready.Load() {
		return nil
	}
	select {
	case c.setup <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("waiting for another call's look at table %q: %w", c.o.Table, ctx.Err())
	}
	defer func() { <-c.setup }()
	if c.ready.Load() {
		return nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, setupTimeout)
		defer cancel()
	}
	if c.client == nil {
		client, err := c.build(ctx)
		if err != nil {
			return err
		}
		c.client = client
	}
	if err := c.checkTable(ctx); err != nil {
		return err
	}
	c.ready.Store(true)
	return nil
}

// build returns a client from the SDK's default config (environment,
// shared files, credential chain) and the connection options.
func (c *conn) build(ctx context.Context) (*awsdynamodb.Client, error) {
	o := c.o
	var opts []func(*config.LoadOptions) error
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	if o.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(o.Profile))
	}
	if o.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(o.AccessKeyID, o.SecretAccessKey, o.SessionToken)))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading the AWS config: %w", err)
	}
	// The SDK's client, with what the config added to it (AWS_CA_BUNDLE),
	// frozen so that Disconnect can close its idle connections.
	if b, ok := cfg.HTTPClient.(*awshttp.BuildableClient); ok {
		cfg.HTTPClient = b.Freeze()
	}
	if hc, ok := cfg.HTTPClient.(interface{ CloseIdleConnections() }); ok {
		c.idleMu.Lock()
		c.idle = hc.CloseIdleConnections
		c.idleMu.Unlock()
	}
	if cfg.Region == "" {
		if o.Endpoint == "" {
			return nil, errors.New("no AWS region: set region, or AWS_REGION in the environment")
		}
		cfg.Region = emulatorRegion
	}
	return awsdynamodb.NewFromConfig(cfg, func(do *awsdynamodb.Options) {
		if o.Endpoint != "" {
			do.BaseEndpoint = aws.String(o.Endpoint)
		}
	}), nil
}

// checkTable makes sure that the table exists with the key schema the
// driver needs, creating it with create_table, and waits until it is
// active.
func (c *conn) checkTable(ctx context.Context) error {
	table := c.o.Table
	for attempt := 0; ; attempt++ {
		out, err := c.client.DescribeTable(ctx, &awsdynamodb.DescribeTableInput{TableName: &table})
		var missing *types.ResourceNotFoundException
		switch {
		case errors.As(err, &missing) && c.o.CreateTable:
			err := c.createTable(ctx)
			var busy *types.LimitExceededException
			if errors.As(err, &busy) {
				// Too many tables being created at once in the account:
				// try again after a pause.
				if err := pause(ctx, attempt); err != nil {
					return fmt.Errorf("creating table %q: %w", table, errors.Join(busy, err))
				}
				continue
			}
			if err != nil {
				return fmt.Errorf("creating table %q: %w", table, err)
			}
			continue
		case errors.As(err, &missing):
			return fmt.Errorf("table %q does not exist: create it with the string partition key %q and the string sort key %q, or set create_table: %w",
				table, c.o.PartitionKey, c.o.SortKey, err)
		case err != nil:
			return fmt.Errorf("describing table %q: %w", table, err)
		}
		if err := c.checkSchema(out.Table); err != nil {
			return err
		}
		switch out.Table.TableStatus {
		case types.TableStatusActive, types.TableStatusUpdating:
			if c.o.CreateTable {
				return c.enableTTL(ctx)
			}
			return nil
		case types.TableStatusCreating:
		default:
			return fmt.Errorf("table %q is %s", table, out.Table.TableStatus)
		}
		if err := pause(ctx, attempt); err != nil {
			return fmt.Errorf("waiting for table %q to become active: %w", table, err)
		}
	}
}

// checkSchema reports a table whose primary key is not the driver's.
func (c *conn) checkSchema(t *types.TableDescription) error {
	kinds := map[string]types.ScalarAttributeType{}
	for _, a := range t.AttributeDefinitions {
		kinds[aws.ToString(a.AttributeName)] = a.AttributeType
	}
	var hash, rng string
	for _, k := range t.KeySchema {
		switch k.KeyType {
		case types.KeyTypeHash:
			hash = aws.ToString(k.AttributeName)
		case types.KeyTypeRange:
			rng = aws.ToString(k.AttributeName)
		}
	}
	if hash != c.o.PartitionKey || rng != c.o.SortKey || kinds[hash] != types.ScalarAttributeTypeS || kinds[rng] != types.ScalarAttributeTypeS {
		return fmt.Errorf("table %q has the partition key %q (%s) and the sort key %q (%s); the driver needs the string partition key %q and the string sort key %q (see partition_key and sort_key)",
			c.o.Table, hash, kinds[hash], rng, kinds[rng], c.o.PartitionKey, c.o.SortKey)
	}
	return nil
}

// createTable creates the table, on-demand. A table that another instance
// is creating is not an error.
func (c *conn) createTable(ctx context.Context) error {
	_, err := c.client.CreateTable(ctx, &awsdynamodb.CreateTableInput{
		TableName: &c.o.Table,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: &c.o.PartitionKey, AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: &c.o.SortKey, AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: &c.o.PartitionKey, KeyType: types.KeyTypeHash},
			{AttributeName: &c.o.SortKey, KeyType: types.KeyTypeRange},
		},
		BillingMode: types.BillingModePayPerRequest,
	})
	var inUse *types.ResourceInUseException
	if errors.As(err, &inUse) {
		return nil
	}
	return err
}

// enableTTL turns DynamoDB's TTL on for the ttl attribute when it is off.
// An endpoint that does not implement TTL (an emulator) is not an error:
// reads check expiry all the same.
func (c *conn) enableTTL(ctx context.Context) error {
	table := c.o.Table
	out, err := c.client.DescribeTimeToLive(ctx, &awsdynamodb.DescribeTimeToLiveInput{TableName: &table})
	if unknownOperation(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("describing the TTL of table %q: %w", table, err)
	}
	if d := out.TimeToLiveDescription; d != nil {
		switch d.TimeToLiveStatus {
		case types.TimeToLiveStatusEnabled, types.TimeToLiveStatusEnabling:
			if name := aws.ToString(d.AttributeName); name != c.o.TTLAttribute {
				return fmt.Errorf("table %q has TTL on attribute %q, not on ttl_attribute %q: DynamoDB would never delete the driver's expired items", table, name, c.o.TTLAttribute)
			}
			return nil
		}
	}
	_, err = c.client.UpdateTimeToLive(ctx, &awsdynamodb.UpdateTimeToLiveInput{
		TableName:               &table,
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: &c.o.TTLAttribute, Enabled: aws.Bool(true)},
	})
	if err != nil && !unknownOperation(err) {
		return fmt.Errorf("enabling TTL on attribute %q of table %q: %w", c.o.TTLAttribute, table, err)
	}
	return nil
}

// unknownOperation reports an endpoint that does not implement the call.
func unknownOperation(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "UnknownOperationException"
}
