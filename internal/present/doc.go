// Package present turns rollback lifecycle state into chat messages: the
// proposal message that is updated in place, vote and validation notes, the
// summary and the support-channel notice. It is pure (records in, messages
// out) so golden tests pin it, and it builds typed chat.Text: mentions and
// links are spans, never Slack markup, which stays in the Slack adapter.
//
// It imports only the domain (rollback) and the chat model.
package present
