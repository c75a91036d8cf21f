namespace Parley.Net.Yamux;

/// <summary>Reason carried in a GoAway frame's length field.</summary>
public enum YamuxGoAwayCode : uint
{
    Normal = 0,
    ProtocolError = 1,
    InternalError = 2,
}
