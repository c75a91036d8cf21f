using System.Globalization;

namespace Parley.Testing.Simulation;

/// <summary>
/// Summary statistics of a set of numbers (or durations, in milliseconds): count, min, mean, p50, p90, p99, max and
/// the empirical CDF. Quantiles interpolate linearly between the nearest ranks (the default of numpy and R). With no
/// values, every statistic is NaN.
/// </summary>
public sealed class Percentiles
{
    private readonly double[] _sorted;

    /// <exception cref="ArgumentException">A value is NaN.</exception>
    public Percentiles(IEnumerable<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        _sorted = [.. values];
        if (Array.Exists(_sorted, double.IsNaN))
        {
            throw new ArgumentException("Values must not be NaN.", nameof(values));
        }
        Array.Sort(_sorted);
        Mean = _sorted.Length == 0 ? double.NaN : _sorted.Average();
    }

    public int Count => _sorted.Length;

    public double Min => Count == 0 ? double.NaN : _sorted[0];

    public double Max => Count == 0 ? double.NaN : _sorted[^1];

    public double Mean { get; }

    public double P50 => Quantile(0.50);

    public double P90 => Quantile(0.90);

    public double P99 => Quantile(0.99);

    /// <summary>Statistics of durations, in milliseconds.</summary>
    public static Percentiles OfMilliseconds(IEnumerable<TimeSpan> durations)
    {
        ArgumentNullException.ThrowIfNull(durations);
        return new Percentiles(durations.Select(duration => duration.TotalMilliseconds));
    }

    /// <summary>The value below which a fraction <paramref name="q"/> (0 to 1) of the values lie.</summary>
    public double Quantile(double q)
    {
        if (!(q is >= 0 and <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(q), q, "Must be between 0 and 1.");
        }
        if (Count == 0)
        {
            return double.NaN;
        }
        var rank = q * (Count - 1);
        var below = (int)Math.Floor(rank);
        var above = Math.Min(below + 1, Count - 1);
        return _sorted[below] + ((rank - below) * (_sorted[above] - _sorted[below]));
    }

    /// <summary>
    /// The empirical CDF as (value, fraction of values at or below it), thinned to at most
    /// <paramref name="maxPoints"/> points spread evenly over the ranks; the last point is always the maximum at 1.
    /// </summary>
    public IReadOnlyList<(double Value, double Fraction)> Cdf(int maxPoints = 200)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPoints, 2);
        var points = new List<(double, double)>(Math.Min(Count, maxPoints));
        if (Count == 0)
        {
            return points;
        }
        var step = Math.Max(1.0, (double)Count / maxPoints);
        for (var position = step - 1; position < Count - 1; position += step)
        {
            var index = (int)position;
            points.Add((_sorted[index], (index + 1.0) / Count));
        }
        points.Add((_sorted[^1], 1.0));
        return points;
    }

    public override string ToString() => string.Create(
        CultureInfo.InvariantCulture,
        $"n={Count} min={Min:0.###} mean={Mean:0.###} p50={P50:0.###} p90={P90:0.###} p99={P99:0.###} max={Max:0.###}");
}
