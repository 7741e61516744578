package deps

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// ServedConfigVersion is the config version a gatelab node serves, from its
// admin API (GET /config with an admin token). admin is the admin base URL.
func ServedConfigVersion(ctx context.Context, c *http.Client, admin, token string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, admin+"/config", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var v struct {
		Version int64 `json:"version"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return 0, fmt.Errorf("GET /config: %w", err)
	}
	return v.Version, nil
}

// PutConfig replaces a gatelab node's config through its admin API with
// compare-and-swap on expected (PUT /config?expected_version=N). A refusal
// is an error carrying the status and the node's answer (its problems).
func PutConfig(ctx context.Context, c *http.Client, admin, token string, expected int64, body string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, admin+"/config?expected_version="+strconv.FormatInt(expected, 10), strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 8192))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("PUT /config: %s %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return nil
}
