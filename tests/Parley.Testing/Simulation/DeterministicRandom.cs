namespace Parley.Testing.Simulation;

/// <summary>
/// SplitMix64: a tiny, fast generator whose output is fixed by its seed on every platform and runtime version,
/// so simulation runs reproduce exactly. Not for cryptography.
/// </summary>
internal struct DeterministicRandom(ulong seed)
{
    private const ulong GoldenGamma = 0x9E3779B97F4A7C15;

    private ulong _state = seed;

    /// <summary>Scrambles a 64-bit value; also used to hash keys (seed, node pair) without storing anything.</summary>
    public static ulong Mix(ulong value)
    {
        value += GoldenGamma;
        value = (value ^ (value >> 30)) * 0xBF58476D1CE4E5B9;
        value = (value ^ (value >> 27)) * 0x94D049BB133111EB;
        return value ^ (value >> 31);
    }

    /// <summary>Maps 64 random bits to a double uniformly distributed in [0, 1).</summary>
    public static double ToUnitInterval(ulong bits) => (bits >> 11) * (1.0 / (1UL << 53));

    public ulong NextUInt64()
    {
        _state += GoldenGamma;
        return Mix(_state);
    }

    public double NextDouble() => ToUnitInterval(NextUInt64());
}
