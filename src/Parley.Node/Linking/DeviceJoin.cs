using Parley.Chat.Linking;

namespace Parley.Node.Linking;

public enum DeviceJoinState
{
    Connecting,
    Confirming,
    Linked,
    Failed,
}

/// <summary>How linking this node into an existing account is going (the new device's side, for the API and the web UI).</summary>
public sealed class DeviceJoin
{
    public DeviceJoinState State { get; private set; } = DeviceJoinState.Connecting;

    /// <summary>The six digits to compare with the existing device's, once it accepted the code.</summary>
    public string? VerificationCode { get; private set; }

    public LinkResult? Result { get; private set; }

    public string? Error { get; private set; }

    internal Task Completion { get; set; } = Task.CompletedTask;

    internal void Show(string verificationCode)
    {
        VerificationCode = verificationCode;
        State = DeviceJoinState.Confirming;
    }

    internal void Succeed(LinkResult result)
    {
        Result = result;
        State = DeviceJoinState.Linked;
    }

    internal void Fail(string error)
    {
        Error = error;
        State = DeviceJoinState.Failed;
    }
}

/// <summary>A device of the account as listed: its id, the name it was linked under, whether it is this one.</summary>
public sealed record DeviceEntry(Core.Identity.PeerId Id, string? Name, bool IsThisDevice, DateTimeOffset CertifiedAt);
