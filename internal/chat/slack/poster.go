package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/backout/backout/internal/chat"
)

// PosterOptions tune the Poster; zero values take defaults.
type PosterOptions struct {
	Retry   RetryOptions
	Metrics Metrics
	Logger  *slog.Logger
	// UpdateInterval is the least time between two chat.update calls for one
	// message; updates in between are coalesced (default 1 s, Slack's
	// sustained rate for editing one message).
	UpdateInterval time.Duration
	// DeferredTimeout bounds a coalesced update sent after its caller has
	// returned (default 30 s).
	DeferredTimeout time.Duration
}

// Poster is chat.Poster over the Slack Web API. It retries rate limits and
// transient failures, and coalesces rapid updates of one message.
type Poster struct {
	api   *slackgo.Client
	retry *retrier
	co    *coalescer
}

var _ chat.Poster = (*Poster)(nil)

// NewPoster returns a Poster using api (see NewClient).
func NewPoster(api *slackgo.Client, opts PosterOptions) *Poster {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	setDefault(&opts.UpdateInterval, time.Second)
	setDefault(&opts.DeferredTimeout, 30*time.Second)
	p := &Poster{api: api, retry: newRetrier(opts.Retry, opts.Metrics)}
	p.co = newCoalescer(p.update, opts.UpdateInterval, opts.DeferredTimeout, opts.Logger)
	return p
}

func messageOptions(msg chat.Message) []slackgo.MsgOption {
	return []slackgo.MsgOption{
		slackgo.MsgOptionText(FallbackText(msg), false),
		slackgo.MsgOptionBlocks(Render(msg)...),
	}
}

// Post sends a new message, in ref.Thread's thread when set.
func (p *Poster) Post(ctx context.Context, ref chat.Ref, msg chat.Message) (chat.Ref, error) {
	if ref.Channel == "" {
		return chat.Ref{}, errors.New("slack post: no channel")
	}
	opts := messageOptions(msg)
	if ref.Thread != "" {
		opts = append(opts, slackgo.MsgOptionTS(ref.Thread))
	}
	var out chat.Ref
	err := p.retry.do(ctx, "chat.postMessage", func(ctx context.Context) error {
		channel, ts, err := p.api.PostMessageContext(ctx, ref.Channel, opts...)
		out = chat.Ref{Channel: channel, TS: ts, Thread: ref.Thread}
		return err
	})
	if err != nil {
		return out, err
	}
	return out, p.uploadImages(ctx, out, msg.Images)
}

// uploadImages puts a message's pictures in its thread, right after it.
func (p *Poster) uploadImages(ctx context.Context, ref chat.Ref, images []chat.Image) error {
	var errs []error
	for _, img := range images {
		if err := p.Upload(ctx, ref, img.Filename, img.Title, string(img.PNG)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Update replaces the message at ref. Updates of one message closer than
// UpdateInterval are coalesced: the first is sent at once (and its error
// returned); later ones replace each other and only the latest is sent when
// the interval has passed. Errors of those deferred sends are logged and
// returned by Flush.
func (p *Poster) Update(ctx context.Context, ref chat.Ref, msg chat.Message) error {
	if ref.Channel == "" || ref.TS == "" {
		return errors.New("slack update: ref needs channel and ts")
	}
	return p.co.update(ctx, ref, msg)
}

// Flush sends every pending coalesced update now and waits for them; call
// it on shutdown so the last state of each message is not lost.
func (p *Poster) Flush(ctx context.Context) error { return p.co.flush(ctx) }

func (p *Poster) update(ctx context.Context, ref chat.Ref, msg chat.Message) error {
	return p.retry.do(ctx, "chat.update", func(ctx context.Context) error {
		_, _, _, err := p.api.UpdateMessageContext(ctx, ref.Channel, ref.TS, messageOptions(msg)...)
		return err
	})
}

// Ephemeral shows msg to one user in channel.
func (p *Poster) Ephemeral(ctx context.Context, channel, user string, msg chat.Message) error {
	return p.retry.do(ctx, "chat.postEphemeral", func(ctx context.Context) error {
		_, err := p.api.PostEphemeralContext(ctx, channel, user, messageOptions(msg)...)
		return err
	})
}

// Upload posts a text file in ref.Thread's thread (or under ref.TS when no
// thread is set) with Slack's three-step external upload.
func (p *Poster) Upload(ctx context.Context, ref chat.Ref, filename, title, content string) error {
	if content == "" {
		return errors.New("slack upload: empty file")
	}
	thread := ref.Thread
	if thread == "" {
		thread = ref.TS
	}
	var up *slackgo.GetUploadURLExternalResponse
	err := p.retry.do(ctx, "files.getUploadURLExternal", func(ctx context.Context) error {
		var err error
		up, err = p.api.GetUploadURLExternalContext(ctx, slackgo.GetUploadURLExternalParameters{
			FileName: filename, FileSize: len(content),
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("slack upload %s: %w", filename, err)
	}
	err = p.retry.do(ctx, "files.upload", func(ctx context.Context) error {
		return p.api.UploadToURL(ctx, slackgo.UploadToURLParameters{
			UploadURL: up.UploadURL, Content: content, Filename: filename,
		})
	})
	if err != nil {
		return fmt.Errorf("slack upload %s: %w", filename, err)
	}
	err = p.retry.do(ctx, "files.completeUploadExternal", func(ctx context.Context) error {
		_, err := p.api.CompleteUploadExternalContext(ctx, slackgo.CompleteUploadExternalParameters{
			Files:           []slackgo.FileSummary{{ID: up.FileID, Title: title}},
			Channel:         ref.Channel,
			ThreadTimestamp: thread,
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("slack upload %s: %w", filename, err)
	}
	return nil
}
