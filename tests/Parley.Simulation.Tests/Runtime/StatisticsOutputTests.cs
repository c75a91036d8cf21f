using System.Xml.Linq;
using Parley.Testing.Simulation;

namespace Parley.Simulation.Tests.Runtime;

public sealed class StatisticsOutputTests
{
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";

    [Fact]
    public void Percentiles_interpolate_between_ranks()
    {
        var stats = new Percentiles(Enumerable.Range(1, 100).Select(i => (double)(101 - i)));

        Assert.Equal(100, stats.Count);
        Assert.Equal(1, stats.Min);
        Assert.Equal(100, stats.Max);
        Assert.Equal(50.5, stats.Mean, 9);
        Assert.Equal(50.5, stats.P50, 9);
        Assert.Equal(90.1, stats.P90, 9);
        Assert.Equal(99.01, stats.P99, 9);
        Assert.Equal(1, stats.Quantile(0));
        Assert.Equal("n=100 min=1 mean=50.5 p50=50.5 p90=90.1 p99=99.01 max=100", stats.ToString());
    }

    [Fact]
    public void Percentiles_of_durations_are_in_milliseconds_and_empty_input_gives_NaN()
    {
        var stats = Percentiles.OfMilliseconds([TimeSpan.FromMilliseconds(30), TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(10)]);
        Assert.Equal(30, stats.P50);
        Assert.Equal(1000, stats.Max);

        var single = new Percentiles([7]);
        Assert.Equal(7, single.P99);

        var empty = new Percentiles([]);
        Assert.Equal(0, empty.Count);
        Assert.True(double.IsNaN(empty.P50) && double.IsNaN(empty.Mean) && double.IsNaN(empty.Max));
        Assert.Empty(empty.Cdf());
        Assert.Throws<ArgumentException>(() => new Percentiles([1, double.NaN]));
    }

    [Fact]
    public void The_CDF_is_thinned_rising_and_ends_at_the_maximum()
    {
        var stats = new Percentiles(Enumerable.Range(0, 10_000).Select(i => (double)i));

        var cdf = stats.Cdf(maxPoints: 100);

        Assert.Equal(100, cdf.Count);
        Assert.Equal((9999.0, 1.0), cdf[^1]);
        Assert.Equal(cdf.OrderBy(point => point.Value), cdf);
        Assert.Equal(0.01, cdf[0].Fraction, 9);
        Assert.Equal(3, new Percentiles([3, 1, 2]).Cdf().Count);
    }

    [Fact]
    public void Csv_rows_are_quoted_where_needed_and_culture_invariant()
    {
        using var text = new StringWriter();
        var csv = new CsvWriter(text);

        csv.WriteRow("time", "success rate", "note");
        csv.WriteRow(new DateTimeOffset(2026, 1, 1, 0, 0, 1, TimeSpan.Zero), 0.975, "a, \"quoted\"\nnote");
        csv.WriteRow(1.5e-7, null, 42);

        Assert.Equal(
            "time,success rate,note\n2026-01-01T00:00:01.0000000+00:00,0.975,\"a, \"\"quoted\"\"\nnote\"\n1.5E-07,,42\n",
            text.ToString());
    }

    [Fact]
    public void The_SVG_chart_is_well_formed_with_axes_labels_and_one_line_per_series()
    {
        var latencies = new Percentiles(Enumerable.Range(1, 500).Select(i => 20 + (i * 0.5)));
        var plot = new SvgPlot("Lookup latency <CDF> & more") { XLabel = "latency (ms)", YLabel = "fraction of lookups", YMin = 0, YMax = 1 };
        plot.AddSeries("k = 20", latencies.Cdf());
        plot.AddSeries("k = 10", latencies.Cdf().Select(point => (point.Value * 1.3, point.Fraction)));

        var svg = XDocument.Parse(plot.ToSvg()).Root!;

        Assert.Equal(Svg + "svg", svg.Name);
        Assert.Equal(2, svg.Descendants(Svg + "polyline").Count());
        var texts = svg.Descendants(Svg + "text").Select(text => text.Value).ToList();
        Assert.Contains("Lookup latency <CDF> & more", texts);
        Assert.Contains("latency (ms)", texts);
        Assert.Contains("fraction of lookups", texts);
        Assert.Contains("k = 10", texts);
        Assert.Contains("1.0", texts); // y ticks from 0.0 to 1.0
        Assert.Contains("0.0", texts);
        Assert.True(svg.Descendants(Svg + "line").Count() > 10, "axes, ticks and grid lines");
        var polyline = svg.Descendants(Svg + "polyline").First().Attribute("points")!.Value;
        Assert.All(polyline.Split(' '), point => Assert.Matches(@"^\d+(\.\d+)?,\d+(\.\d+)?$", point));
    }

    [Fact]
    public void Degenerate_charts_are_still_valid_SVG()
    {
        var empty = new SvgPlot("No data");
        var single = new SvgPlot("One point");
        single.AddSeries("only", [(5, 5)]);
        var gaps = new SvgPlot("Success rate over time") { XLabel = "time (min)", YLabel = "success" };
        gaps.AddSeries("success", [(0, 1), (1, double.NaN), (2, 0.5), (3, 0.75)]);

        Assert.Empty(XDocument.Parse(empty.ToSvg()).Descendants(Svg + "polyline"));
        Assert.Single(XDocument.Parse(single.ToSvg()).Descendants(Svg + "circle"));
        var gapped = XDocument.Parse(gaps.ToSvg());
        Assert.Single(gapped.Descendants(Svg + "polyline"));
        Assert.Single(gapped.Descendants(Svg + "circle"));
    }

    [Fact]
    public void Save_writes_the_chart_to_a_file()
    {
        var path = Path.Combine(Path.GetTempPath(), $"parley-svgplot-{Guid.NewGuid():N}.svg");
        var plot = new SvgPlot("Saved");
        plot.AddSeries("line", [(0, 0), (10, 3)]);
        try
        {
            plot.Save(path);
            Assert.Equal(Svg + "svg", XDocument.Load(path).Root!.Name);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
