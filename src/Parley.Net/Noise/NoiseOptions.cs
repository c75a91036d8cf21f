namespace Parley.Net.Noise;

public sealed class NoiseOptions
{
    /// <summary>Bound on the whole handshake, so a peer that stalls cannot hold a connection open.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);
}
