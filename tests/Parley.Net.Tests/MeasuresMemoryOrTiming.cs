namespace Parley.Net.Tests;

/// <summary>Tests that read process-wide memory or tight timings run alone, so other tests cannot skew them.</summary>
[CollectionDefinition(nameof(MeasuresMemoryOrTiming), DisableParallelization = true)]
public sealed class MeasuresMemoryOrTiming;
