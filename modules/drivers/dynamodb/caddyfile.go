package dynamodb

import (
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/bentocache/bento/internal/cfblock"
)

// UnmarshalCaddyfile sets the driver up from a Caddyfile block. The short
// form "dynamodb <table>" names the table alone:
//
//	dynamodb [<table>] {
//		table             <name>
//		prefix            <prefix>
//		region            <region>
//		endpoint          <url>
//		profile           <name>
//		access_key_id     <id>
//		secret_access_key <secret>
//		session_token     <token>
//		create_table
//		partition_key     <attribute>
//		sort_key          <attribute>
//		ttl_attribute     <attribute>
//	}
func (dr *Driver) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	if d.NextArg() {
		dr.Table = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	strs := map[string]*string{
		"table": &dr.Table, "prefix": &dr.Prefix, "region": &dr.Region, "endpoint": &dr.Endpoint,
		"profile": &dr.Profile, "access_key_id": &dr.AccessKeyID, "secret_access_key": &dr.SecretAccessKey,
		"session_token": &dr.SessionToken, "partition_key": &dr.PartitionKey, "sort_key": &dr.SortKey,
		"ttl_attribute": &dr.TTLAttribute,
	}
	for d.NextBlock(0) {
		name := d.Val()
		if dst, ok := strs[name]; ok {
			if err := cfblock.OneArg(d, dst); err != nil {
				return err
			}
			continue
		}
		if name == "create_table" {
			if err := cfblock.Flag(d, &dr.CreateTable); err != nil {
				return err
			}
			continue
		}
		return d.Errf("unknown dynamodb driver option %q; known options: %s", name, strings.Join(caddyfileOptions, ", "))
	}
	return nil
}

// caddyfileOptions are the options of the block, in the order of the
// syntax.
var caddyfileOptions = []string{
	"table", "prefix", "region", "endpoint", "profile", "access_key_id", "secret_access_key",
	"session_token", "create_table", "partition_key", "sort_key", "ttl_attribute",
}
