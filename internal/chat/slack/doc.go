// Package slack is Backout's Slack adapter: signed HTTP endpoints and Socket
// Mode for slash commands, button clicks and mentions; a rate-limit aware
// Poster; a cached Directory of user groups; and Block Kit rendering of the
// neutral chat.Message model.
//
// Wiring, outbound first since the core needs the Poster before the
// Handler exists:
//
//	api := slack.NewClient(botToken, cfg.Slack.APIURL, nil)
//	poster := slack.NewPoster(api, slack.PosterOptions{Metrics: m})
//	dir := slack.NewDirectory(api, slack.DirectoryOptions{Metrics: m})
//	a, err := slack.NewAdapter(slack.AdapterConfig{SigningSecret: secret,
//		Handler: h, Poster: poster, API: api, Dedup: store})
//	mux.Handle("POST /slack/commands", a.Commands()) // and Interactions, Events
//	go a.Run(ctx)                          // the worker pool
//	go a.RunSocketMode(ctx, appToken)      // only with an app token
//	defer poster.Flush(shutdownCtx)        // last coalesced updates
//
// Every inbound request is verified, claimed once through Dedup, queued on
// a bounded pool and acknowledged at once; a full queue or a failing store
// answers 503 so that Slack retries instead of the work being lost.
package slack
