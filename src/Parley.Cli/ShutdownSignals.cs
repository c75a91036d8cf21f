using System.Runtime.InteropServices;

namespace Parley.Cli;

/// <summary>
/// Ctrl-C (SIGINT) and SIGTERM for every command: the first cancels <see cref="Token"/>, so the command stops and the
/// node closes its databases; the second only says it is still stopping (a clean stop takes a few seconds); the third
/// is left to the system, which ends the process at once. A process started with SIGINT ignored (a background job of
/// a non-interactive shell) keeps ignoring it, as the system's convention wants.
/// </summary>
internal sealed class ShutdownSignals : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly PosixSignalRegistration[] _registrations;
    private int _signals;

    public ShutdownSignals()
    {
        _registrations = [PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal), PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal)];
    }

    public CancellationToken Token => _stop.Token;

    public void Dispose()
    {
        foreach (var registration in _registrations)
        {
            registration.Dispose();
        }
        _stop.Dispose();
    }

    private void OnSignal(PosixSignalContext context)
    {
        switch (Interlocked.Increment(ref _signals))
        {
            case 1:
                context.Cancel = true;
                _stop.Cancel();
                break;
            case 2:
                context.Cancel = true;
                Console.Error.WriteLine("parley: stopping (closing the databases); press Ctrl-C once more to quit at once");
                break;
            default:
                // The system's default: the process ends now; SQLite recovers the write-ahead log at the next start.
                break;
        }
    }
}
