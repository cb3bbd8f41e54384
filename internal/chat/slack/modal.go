package slack

import (
	"context"
	"encoding/json"
	"strings"

	slackgo "github.com/slack-go/slack"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/human"
)

// The reason modal: IDs Slack echoes back in view_submission.
const (
	reasonCallbackID = "backout_reason"
	reasonBlockID    = "reason"
	reasonActionID   = "reason"
	maxReasonLength  = 2000
)

// reasonMeta rides in the modal's private_metadata: everything needed to
// rebuild the click once the reason arrives.
type reasonMeta struct {
	Action    string `json:"a"`
	Value     string `json:"v"`
	Channel   string `json:"c"`
	MessageTS string `json:"ts"`
	Thread    string `json:"th,omitempty"`
}

func reasonModal(meta reasonMeta) slackgo.ModalViewRequest {
	raw, _ := json.Marshal(meta) // plain strings: cannot fail
	verb := meta.Action
	if verb != "" {
		verb = strings.ToUpper(verb[:1]) + verb[1:]
	}
	input := slackgo.NewPlainTextInputBlockElement(plain("Why? This goes into the audit trail."), reasonActionID).
		WithMultiline(true).
		WithMaxLength(maxReasonLength)
	return slackgo.ModalViewRequest{
		Type:            slackgo.VTModal,
		CallbackID:      reasonCallbackID,
		Title:           plain(human.Truncate(verb+" rollback", 24)),
		Submit:          plain(human.Truncate(verb, 24)),
		Close:           plain("Cancel"),
		PrivateMetadata: string(raw),
		Blocks: slackgo.Blocks{BlockSet: []slackgo.Block{
			slackgo.NewInputBlock(reasonBlockID, plain("Reason"), nil, input),
		}},
	}
}

// reasonRequired is the view_submission answer that keeps the modal open
// with an error under the input.
func reasonRequired() slackgo.ViewSubmissionResponse {
	return slackgo.ViewSubmissionResponse{
		ResponseAction: slackgo.RAErrors,
		Errors:         map[string]string{reasonBlockID: "Please give a reason."},
	}
}

// askReason opens the modal. trigger_id lives about 3 s, so this runs
// without retries; on failure the person is told to click again.
func (a *Adapter) askReason(ctx context.Context, triggerID, user string, meta reasonMeta) {
	_, err := a.cfg.API.OpenViewContext(ctx, triggerID, reasonModal(meta))
	if err == nil {
		return
	}
	a.metrics.APIError("views.open")
	a.log.Error("slack: opening reason modal failed", "user", user, "action", meta.Action, "err", err)
	msg := chat.TextMessage(chat.Plain("Could not open the reason dialog; please click the button again."))
	if perr := a.cfg.Poster.Ephemeral(ctx, meta.Channel, user, msg); perr != nil {
		a.log.Error("slack: telling user about modal failure failed", "user", user, "err", perr)
	}
}
