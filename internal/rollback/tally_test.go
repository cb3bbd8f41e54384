package rollback

import "testing"

// TestMeasurementTally: the tally says how many measurements were taken
// and how each ended, never only the deciding one.
func TestMeasurementTally(t *testing.T) {
	tests := []struct {
		t    MeasurementTally
		want string
	}{
		{MeasurementTally{Count: 2, Successful: 2}, "2/2 passed"},
		{MeasurementTally{Count: 1, Successful: 1}, "1/1 passed"},
		{MeasurementTally{Count: 3, Successful: 2, Failed: 1}, "1 of 3 failed, 2 passed"},
		{MeasurementTally{Count: 3, Failed: 1}, "1 of 1 failed, stopped after 1 of 3"},
		{MeasurementTally{Count: 3, Successful: 1, Inconclusive: 1}, "1 of 2 inconclusive, 1 passed, stopped after 2 of 3"},
		{MeasurementTally{Count: 3, Successful: 3, Errors: 1}, "3/3 passed, 1 errored"},
		{MeasurementTally{Count: 3, Errors: 5}, "all 5 errored"},
		{MeasurementTally{Count: 3}, "no measurement taken"},
	}
	for _, tt := range tests {
		if got := tt.t.String(); got != tt.want {
			t.Errorf("%+v = %q, want %q", tt.t, got, tt.want)
		}
	}
}
