package control

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// lastGoodFile is the name of the last-good snapshot in the state directory.
// It is only ever replaced by a rename, so it is always complete; temporary
// files (lastGoodFile + ".tmp-*") left by a crash are ignored and removed by
// the next save.
const lastGoodFile = "last-good.json"

// lastGood is the state file's content.
type lastGood struct {
	Version  int64  `json:"version"`
	SavedAt  string `json:"saved_at"`
	Source   string `json:"source"`
	Checksum string `json:"checksum"` // "sha256:" + hex of Config, to detect a damaged file
	Config   string `json:"config"`   // the YAML as submitted
}

func checksum(raw []byte) string {
	sum := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// writeLastGood saves raw and its version in dir atomically: write a
// temporary file, fsync it, rename it over the last one, fsync the
// directory. A crash at any point leaves either the old or the new file.
func writeLastGood(dir string, version int64, raw []byte, source string, now time.Time) (err error) {
	data, err := json.Marshal(lastGood{
		Version:  version,
		SavedAt:  now.UTC().Format(time.RFC3339Nano),
		Source:   source,
		Checksum: checksum(raw),
		Config:   string(raw),
	})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, lastGoodFile+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// The file holds key and token hashes: owner only.
	if err = f.Chmod(0o600); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	final := filepath.Join(dir, lastGoodFile)
	if err = os.Rename(tmp, final); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	// Temporary files of saves that crashed before their rename.
	if stale, _ := filepath.Glob(filepath.Join(dir, lastGoodFile+".tmp-*")); len(stale) > 0 {
		for _, s := range stale {
			os.Remove(s)
		}
	}
	return nil
}

// LoadLastGood returns the YAML of the last snapshot a Manager applied with
// this StateDir, for a node that restarts while its config source is
// unreachable. An error wrapping fs.ErrNotExist means nothing was saved; a
// damaged file is an error, never a partial config. See LoadLastGoodVersion
// to restore its version too.
func LoadLastGood(stateDir string) (raw []byte, err error) {
	_, raw, err = LoadLastGoodVersion(stateDir)
	return raw, err
}

// LoadLastGoodVersion is LoadLastGood with the version the snapshot was
// served as. Submitting it with Submission{Source: SourceStartup, Version:
// version} serves it again under the same version, so that sources and
// other nodes agree on what it is.
func LoadLastGoodVersion(stateDir string) (version int64, raw []byte, err error) {
	path := filepath.Join(stateDir, lastGoodFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, nil, fmt.Errorf("reading the last-good config: %w", err)
	}
	var lg lastGood
	if err := json.Unmarshal(data, &lg); err != nil {
		return 0, nil, fmt.Errorf("reading the last-good config %s: damaged: %w", path, err)
	}
	raw = []byte(lg.Config)
	if lg.Checksum != checksum(raw) {
		return 0, nil, fmt.Errorf("reading the last-good config %s: %w: checksum mismatch", path, errDamaged)
	}
	if lg.Version <= 0 {
		return 0, nil, fmt.Errorf("reading the last-good config %s: %w: version %d", path, errDamaged, lg.Version)
	}
	return lg.Version, raw, nil
}

var errDamaged = errors.New("damaged")
