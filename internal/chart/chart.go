// Package chart draws a metric check's rollback.Chart: a PNG (gonum/plot)
// for chat threads and post-mortems, and a one-line sparkline for
// terminals. The core hands charts over as data; only adapters draw them.
package chart

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/backout/backout/internal/rollback"
)

// Size of the PNG, in points (96 dpi in the PNG: 900 x 450 pixels).
const (
	Width  = 9.375 * vg.Inch
	Height = 4.6875 * vg.Inch
)

var (
	seriesColors = []color.RGBA{{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {148, 103, 189, 255}, {140, 86, 75, 255}}
	bandColor    = color.NRGBA{44, 160, 44, 60}
	windowColor  = color.NRGBA{90, 90, 90, 45}
	markPalette  = []color.RGBA{{214, 39, 40, 255}, {227, 119, 194, 255}, {23, 190, 207, 255}, {188, 189, 34, 255}, {127, 127, 127, 255}}
)

// PNG draws the chart: each series, the threshold or baseline band shaded
// green, the measurement window shaded grey, and a dashed vertical line for
// each mark, all named in the legend.
func PNG(c rollback.Chart, title string) ([]byte, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "time (UTC)"
	p.Y.Label.Text = c.Query
	p.X.Tick.Marker = plot.TimeTicks{Format: timeFormat(c.To.Sub(c.From))}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	lo, hi := yRange(c)
	p.Y.Min, p.Y.Max = lo, hi
	p.X.Min, p.X.Max = unix(c.From), unix(c.To)
	if err := addShading(p, c, lo, hi); err != nil {
		return nil, err
	}
	for i, s := range c.Series {
		if err := addSeries(p, s, seriesColors[i%len(seriesColors)]); err != nil {
			return nil, err
		}
	}
	for i, m := range c.Marks {
		if err := addMark(p, m, markPalette[i%len(markPalette)], lo, hi); err != nil {
			return nil, err
		}
	}
	w, err := p.WriterTo(Width, Height, "png")
	if err != nil {
		return nil, fmt.Errorf("chart %q: %w", title, err)
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("chart %q: %w", title, err)
	}
	return buf.Bytes(), nil
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// timeFormat shows seconds on charts shorter than ten minutes.
func timeFormat(span time.Duration) string {
	if span < 10*time.Minute {
		return "15:04:05"
	}
	return "15:04"
}

// yRange spans every point and the band's finite ends, with margins.
func yRange(c rollback.Chart) (float64, float64) {
	lo, hi := math.Inf(1), math.Inf(-1)
	see := func(v float64) { lo, hi = math.Min(lo, v), math.Max(hi, v) }
	for _, s := range c.Series {
		for _, p := range s.Points {
			see(p.Value)
		}
	}
	if b := c.Band; b != nil {
		if b.Low != nil {
			see(*b.Low)
		}
		if b.High != nil {
			see(*b.High)
		}
	}
	if math.IsInf(lo, 1) {
		return 0, 1
	}
	margin := (hi - lo) * 0.1
	if margin == 0 {
		margin = math.Max(math.Abs(hi)*0.1, 1e-3)
	}
	// The top third is left free for the legend, so it hides no data.
	return lo - margin, hi + 5*margin
}

// addShading draws the band and the measurement window as filled boxes.
func addShading(p *plot.Plot, c rollback.Chart, lo, hi float64) error {
	if b := c.Band; b != nil {
		bLo, bHi := lo, hi
		if b.Low != nil {
			bLo = *b.Low
		}
		if b.High != nil {
			bHi = *b.High
		}
		if err := addBox(p, b.Label, unix(c.From), unix(c.To), bLo, bHi, bandColor); err != nil {
			return err
		}
	}
	if !c.WindowStart.IsZero() {
		return addBox(p, "measurement window", unix(c.WindowStart), unix(c.WindowEnd), lo, hi, windowColor)
	}
	return nil
}

func addBox(p *plot.Plot, label string, x0, x1, y0, y1 float64, fill color.Color) error {
	poly, err := plotter.NewPolygon(plotter.XYs{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}})
	if err != nil {
		return fmt.Errorf("chart %s: %w", label, err)
	}
	poly.Color = fill
	poly.LineStyle.Width = 0
	p.Add(poly)
	p.Legend.Add(label, poly)
	return nil
}

func addSeries(p *plot.Plot, s rollback.ChartSeries, c color.Color) error {
	xys := make(plotter.XYs, len(s.Points))
	for i, pt := range s.Points {
		xys[i] = plotter.XY{X: unix(pt.At), Y: pt.Value}
	}
	if len(xys) == 0 {
		return nil
	}
	line, err := plotter.NewLine(xys)
	if err != nil {
		return fmt.Errorf("chart series %s: %w", s.Name, err)
	}
	line.Color = c
	line.Width = vg.Points(1.5)
	p.Add(line)
	p.Legend.Add(s.Name, line)
	return nil
}

func addMark(p *plot.Plot, m rollback.ChartMark, c color.Color, lo, hi float64) error {
	x := unix(m.At)
	line, err := plotter.NewLine(plotter.XYs{{X: x, Y: lo}, {X: x, Y: hi}})
	if err != nil {
		return fmt.Errorf("chart mark %s: %w", m.Label, err)
	}
	line.Color = c
	line.Width = vg.Points(1.2)
	line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(line)
	p.Legend.Add(fmt.Sprintf("%s %s", m.Label, m.At.UTC().Format("15:04:05")), line)
	return nil
}

// sparks are the eight heights of a sparkline.
var sparks = []rune("▁▂▃▄▅▆▇█")

// Sparkline draws values as one line of block characters, lowest ▁,
// highest █, resampled to at most width characters by averaging.
func Sparkline(values []float64, width int) string {
	if len(values) == 0 || width <= 0 {
		return ""
	}
	buckets := resample(values, width)
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range buckets {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	var b strings.Builder
	for _, v := range buckets {
		i := 0
		if hi > lo {
			i = int(math.Round((v - lo) / (hi - lo) * float64(len(sparks)-1)))
		}
		b.WriteRune(sparks[i])
	}
	return b.String()
}

// resample averages values into at most width buckets.
func resample(values []float64, width int) []float64 {
	if len(values) <= width {
		return values
	}
	out := make([]float64, width)
	for i := range out {
		start, end := i*len(values)/width, (i+1)*len(values)/width
		var sum float64
		for _, v := range values[start:end] {
			sum += v
		}
		out[i] = sum / float64(end-start)
	}
	return out
}

// Values are the points of the chart's first series, for a sparkline.
func Values(c rollback.Chart) []float64 {
	if len(c.Series) == 0 {
		return nil
	}
	out := make([]float64, len(c.Series[0].Points))
	for i, p := range c.Series[0].Points {
		out[i] = p.Value
	}
	return out
}
