using System.Globalization;
using System.Xml.Linq;

namespace Parley.Testing.Simulation;

/// <summary>
/// A line chart written as a standalone SVG file: title, axes with rounded ticks and grid lines, axis labels, a
/// legend, one line per series. Axis ranges fit the data unless set. Non-finite points break a line in two.
/// </summary>
/// <example>
/// <code>
/// var plot = new SvgPlot("Lookup latency CDF") { XLabel = "latency (ms)", YLabel = "fraction of lookups", YMin = 0, YMax = 1 };
/// plot.AddSeries("k = 20", stats.Cdf());
/// plot.Save("lookup-latency-cdf.svg");
/// </code>
/// </example>
public sealed class SvgPlot
{
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";

    // Tableau 10: distinguishable colours, also for most colour-blind readers.
    private static readonly string[] Palette =
        ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];

    private const double MarginLeft = 70;
    private const double MarginTop = 40;
    private const double MarginBottom = 55;
    private const double LegendWidth = 160;
    private const int TargetTickCount = 6;

    private readonly List<(string Name, (double X, double Y)[] Points)> _series = [];
    private int _width = 800;
    private int _height = 480;

    public SvgPlot(string title)
    {
        ArgumentNullException.ThrowIfNull(title);
        Title = title;
    }

    public string Title { get; }

    public string XLabel { get; set; } = "";

    public string YLabel { get; set; } = "";

    public int Width
    {
        get => _width;
        set => _width = value >= 300 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "Must be at least 300.");
    }

    public int Height
    {
        get => _height;
        set => _height = value >= 200 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "Must be at least 200.");
    }

    /// <summary>Fixed axis bounds; null fits the axis to the data.</summary>
    public double? XMin { get; set; }

    public double? XMax { get; set; }

    public double? YMin { get; set; }

    public double? YMax { get; set; }

    public void AddSeries(string name, IEnumerable<(double X, double Y)> points)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(points);
        _series.Add((name, [.. points]));
    }

    /// <summary>The chart as SVG markup.</summary>
    public string ToSvg() => Render().ToString();

    public void Save(string path) => File.WriteAllText(path, ToSvg() + "\n");

    private XElement Render()
    {
        var finite = _series.SelectMany(series => series.Points).Where(IsFinite).ToList();
        var x = new Axis(finite.Select(point => point.X), XMin, XMax);
        var y = new Axis(finite.Select(point => point.Y), YMin, YMax);
        var left = MarginLeft;
        var top = MarginTop;
        var right = _width - LegendWidth;
        var bottom = _height - MarginBottom;
        double ToScreenX(double value) => left + ((value - x.Min) / (x.Max - x.Min) * (right - left));
        double ToScreenY(double value) => bottom - ((value - y.Min) / (y.Max - y.Min) * (bottom - top));

        var root = new XElement(
            Svg + "svg",
            new XAttribute("width", _width),
            new XAttribute("height", _height),
            new XAttribute("viewBox", $"0 0 {_width} {_height}"),
            new XAttribute("font-family", "sans-serif"),
            new XElement(Svg + "title", Title),
            new XElement(
                Svg + "defs",
                new XElement(Svg + "clipPath", new XAttribute("id", "plot-area"), Rect(left, top, right - left, bottom - top))),
            Rect(0, 0, _width, _height, new XAttribute("fill", "white")),
            Text(_width / 2.0, 24, Title, "middle", 16, new XAttribute("font-weight", "bold")));

        foreach (var tick in x.Ticks())
        {
            var screen = ToScreenX(tick);
            root.Add(
                Line(screen, top, screen, bottom, "#e0e0e0"),
                Line(screen, bottom, screen, bottom + 5, "black"),
                Text(screen, bottom + 18, x.Label(tick), "middle", 11));
        }
        foreach (var tick in y.Ticks())
        {
            var screen = ToScreenY(tick);
            root.Add(
                Line(left, screen, right, screen, "#e0e0e0"),
                Line(left - 5, screen, left, screen, "black"),
                Text(left - 8, screen + 4, y.Label(tick), "end", 11));
        }
        root.Add(
            Line(left, bottom, right, bottom, "black"),
            Line(left, top, left, bottom, "black"),
            Text((left + right) / 2, _height - 12, XLabel, "middle", 13),
            Text(18, (top + bottom) / 2, YLabel, "middle", 13, new XAttribute("transform", $"rotate(-90 18 {Number((top + bottom) / 2)})")));

        var lines = new XElement(Svg + "g", new XAttribute("clip-path", "url(#plot-area)"), new XAttribute("fill", "none"), new XAttribute("stroke-width", 2));
        for (var i = 0; i < _series.Count; i++)
        {
            var (name, points) = _series[i];
            var colour = Palette[i % Palette.Length];
            foreach (var run in FiniteRuns(points))
            {
                lines.Add(run.Count == 1
                    ? new XElement(Svg + "circle", new XAttribute("cx", Number(ToScreenX(run[0].X))), new XAttribute("cy", Number(ToScreenY(run[0].Y))), new XAttribute("r", 3), new XAttribute("fill", colour))
                    : new XElement(Svg + "polyline", new XAttribute("stroke", colour), new XAttribute("points", string.Join(' ', run.Select(point => $"{Number(ToScreenX(point.X))},{Number(ToScreenY(point.Y))}")))));
            }
            var legendY = top + 10 + (i * 20);
            root.Add(
                Line(right + 15, legendY, right + 40, legendY, colour, width: 3),
                Text(right + 46, legendY + 4, name, "start", 12));
        }
        root.Add(lines);
        return root;
    }

    private static bool IsFinite((double X, double Y) point) => double.IsFinite(point.X) && double.IsFinite(point.Y);

    private static IEnumerable<List<(double X, double Y)>> FiniteRuns((double X, double Y)[] points)
    {
        var run = new List<(double X, double Y)>();
        foreach (var point in points)
        {
            if (IsFinite(point))
            {
                run.Add(point);
            }
            else if (run.Count > 0)
            {
                yield return run;
                run = [];
            }
        }
        if (run.Count > 0)
        {
            yield return run;
        }
    }

    private static XElement Rect(double x, double y, double width, double height, params object[] extra) =>
        new(Svg + "rect", new XAttribute("x", Number(x)), new XAttribute("y", Number(y)), new XAttribute("width", Number(width)), new XAttribute("height", Number(height)), extra);

    private static XElement Line(double x1, double y1, double x2, double y2, string colour, double width = 1) =>
        new(
            Svg + "line",
            new XAttribute("x1", Number(x1)),
            new XAttribute("y1", Number(y1)),
            new XAttribute("x2", Number(x2)),
            new XAttribute("y2", Number(y2)),
            new XAttribute("stroke", colour),
            new XAttribute("stroke-width", Number(width)));

    private static XElement Text(double x, double y, string content, string anchor, double size, params object[] extra) =>
        new(
            Svg + "text",
            new XAttribute("x", Number(x)),
            new XAttribute("y", Number(y)),
            new XAttribute("text-anchor", anchor),
            new XAttribute("font-size", Number(size)),
            extra,
            content);

    private static string Number(double value) => value.ToString("0.##", CultureInfo.InvariantCulture);

    /// <summary>An axis range widened to round tick values, with the tick step and how to label it.</summary>
    private sealed class Axis
    {
        private readonly int _decimals;

        public Axis(IEnumerable<double> values, double? fixedMin, double? fixedMax)
        {
            var dataMin = double.PositiveInfinity;
            var dataMax = double.NegativeInfinity;
            foreach (var value in values)
            {
                dataMin = Math.Min(dataMin, value);
                dataMax = Math.Max(dataMax, value);
            }
            if (dataMin > dataMax)
            {
                (dataMin, dataMax) = (0, 1);
            }
            var min = fixedMin ?? dataMin;
            var max = fixedMax ?? dataMax;
            if (!(max > min))
            {
                // A single value (or inverted bounds): centre a unit-wide range on it.
                var centre = fixedMin ?? fixedMax ?? min;
                (min, max) = (centre - 0.5, centre + 0.5);
            }
            Step = NiceStep((max - min) / TargetTickCount);
            Min = fixedMin ?? Math.Floor(min / Step) * Step;
            Max = fixedMax ?? Math.Ceiling(max / Step) * Step;
            if (!(Max > Min))
            {
                Max = Min + Step;
            }
            _decimals = Math.Max(0, -(int)Math.Floor(Math.Log10(Step)));
        }

        public double Min { get; }

        public double Max { get; }

        public double Step { get; }

        public IEnumerable<double> Ticks()
        {
            var first = Math.Ceiling((Min / Step) - 1e-9);
            for (var index = first; index * Step <= Max + (Step * 1e-9); index++)
            {
                yield return index * Step;
            }
        }

        public string Label(double value) =>
            (Math.Abs(value) < Step * 1e-9 ? 0 : value).ToString("F" + _decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

        /// <summary>The smallest of 1, 2 or 5 times a power of ten that is at least <paramref name="rough"/>.</summary>
        private static double NiceStep(double rough)
        {
            var magnitude = Math.Pow(10, Math.Floor(Math.Log10(rough)));
            var normalised = rough / magnitude;
            return magnitude * (normalised <= 1 ? 1 : normalised <= 2 ? 2 : normalised <= 5 ? 5 : 10);
        }
    }
}
