package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/backout/backout/internal/commands"
)

// responseMessage is what a response_url accepts.
type responseMessage struct {
	ResponseType string          `json:"response_type"`
	Text         string          `json:"text"`
	Blocks       []slackgo.Block `json:"blocks,omitempty"`
}

const respondAttempts = 3

// respond posts a reply to a slash command's response_url, retrying
// transient failures a few times (the URL stays valid for 30 minutes).
func (a *Adapter) respond(ctx context.Context, url string, r commands.Reply) error {
	msg := responseMessage{ResponseType: "in_channel", Text: FallbackText(r.Message), Blocks: Render(r.Message)}
	if r.Ephemeral {
		msg.ResponseType = "ephemeral"
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("encoding response: %w", err)
	}
	backoff := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		retry, err := a.postResponse(ctx, url, body)
		if err == nil {
			return nil
		}
		a.metrics.APIError("response_url")
		if !retry || attempt == respondAttempts {
			return err
		}
		if err := sleep(ctx, backoff); err != nil {
			return fmt.Errorf("response_url: %w", err)
		}
		backoff *= 2
	}
}

// postResponse makes one attempt; retry says whether another could help.
func (a *Adapter) postResponse(ctx context.Context, url string, body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("response_url: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.cfg.HTTPClient.Do(req)
	if err != nil {
		return ctx.Err() == nil, fmt.Errorf("response_url: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return true, fmt.Errorf("response_url: %s", resp.Status)
	default:
		return false, fmt.Errorf("response_url: %s", resp.Status)
	}
}
