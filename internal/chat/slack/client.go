package slack

import (
	"net/http"
	"strings"
	"time"

	slackgo "github.com/slack-go/slack"
)

// NewClient builds a Web API client for a bot token. apiURL "" means Slack
// itself; tests and the lead's end-to-end runs point it at slackfake. hc nil
// means a client with a 30 s timeout, so a hung Slack never hangs a worker.
func NewClient(token, apiURL string, hc *http.Client) *slackgo.Client {
	if apiURL == "" {
		apiURL = slackgo.APIURL
	}
	// slack-go joins the base and the method name without a separator.
	if !strings.HasSuffix(apiURL, "/") {
		apiURL += "/"
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return slackgo.New(token, slackgo.OptionAPIURL(apiURL), slackgo.OptionHTTPClient(hc))
}
