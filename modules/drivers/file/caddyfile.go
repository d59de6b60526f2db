package file

import (
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/bentocache/bento/internal/abridge"
)

// UnmarshalCaddyfile sets the driver up from a Caddyfile block. The
// directory may be given on the first line instead of in the block, so that
// "l2 file /var/cache/bento" is enough:
//
//	file [<directory>] {
//		directory      <directory>
//		prefix         <prefix>
//		prune_interval <duration>
//		file_mode      <octal>
//		dir_mode       <octal>
//		sync
//	}
func (dr *Driver) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	if d.NextArg() {
		dr.Directory = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	for d.NextBlock(0) {
		switch name := d.Val(); name {
		case "directory":
			if dr.Directory != "" {
				return d.Errf("directory is already set to %q", dr.Directory)
			}
			v, err := oneArg(d)
			if err != nil {
				return err
			}
			dr.Directory = v
		case "prefix":
			v, err := oneArg(d)
			if err != nil {
				return err
			}
			dr.Prefix = v
		case "prune_interval":
			v, err := oneArg(d)
			if err != nil {
				return err
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil {
				return d.Errf("prune_interval: invalid duration %q: %v", v, err)
			}
			dr.PruneInterval = caddy.Duration(dur)
		case "file_mode", "dir_mode":
			v, err := oneArg(d)
			if err != nil {
				return err
			}
			if _, err := parseMode(v); err != nil {
				return d.Errf("%s: %v", name, err)
			}
			if name == "file_mode" {
				dr.FileMode = v
			} else {
				dr.DirMode = v
			}
		case "sync":
			if d.NextArg() {
				return d.ArgErr()
			}
			dr.Sync = true
		default:
			return d.Errf("unknown file driver option %q", name)
		}
	}
	return nil
}

// oneArg returns the single argument of the current option line.
func oneArg(d *caddyfile.Dispenser) (string, error) {
	var v string
	if !d.Args(&v) || d.NextArg() {
		return "", d.ArgErr()
	}
	return v, nil
}

// parseMode parses a permission written in octal: "0640", "640" or
// "0o640". The empty string is 0, the default; a written zero ("0000") is an
// error, not the default. Whether other bits make sense is Validate's job.
func parseMode(s string) (fs.FileMode, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(strings.TrimPrefix(strings.TrimPrefix(s, "0o"), "0O"), 8, 32)
	if err != nil {
		return 0, fmt.Errorf("%s is not an octal permission such as \"0640\"", abridge.Quote(s))
	}
	if n == 0 {
		return 0, fmt.Errorf("%s grants no permission at all, not even the owner's: leave it out for the default, or give one such as \"0640\"", abridge.Quote(s))
	}
	return fs.FileMode(n), nil
}
