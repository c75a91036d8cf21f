using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using Parley.Core.Crypto;

namespace Parley.Net.Noise;

/// <summary>
/// The transport phase of libp2p noise: every frame is a 2-byte big-endian length followed by a
/// ChaChaPoly ciphertext of at most 65535 bytes (tag included). One read and one write may run
/// concurrently; the two directions share no mutable state.
/// </summary>
internal sealed class NoiseStream : Stream
{
    public const int LengthPrefixSize = 2;
    public const int MaxFrameLength = ushort.MaxValue;
    public const int MaxFramePlaintext = MaxFrameLength - IAead.TagSize;

    // Several frames go to the transport in one write, amortising its per-call cost.
    private const int MaxFramesPerTransportWrite = 4;
    private const int MaxFrameWithPrefix = LengthPrefixSize + MaxFrameLength;

    // Room for two whole frames keeps compaction rare while reads take whatever the transport has.
    private const int ReceiveBufferSize = 2 * MaxFrameWithPrefix;

    private readonly Stream _inner;
    private readonly CipherState _sender;
    private readonly CipherState _receiver;
    private readonly DirectionGate _readGate = new();
    private readonly DirectionGate _writeGate = new();
    private int _disposed;

    // Receive side, touched only by the single active reader.
    private byte[]? _receiveBuffer;
    private int _bufferedStart;
    private int _bufferedEnd;
    private int _plaintextStart;
    private int _plaintextEnd;
    private string? _readFailure;

    // Send side, touched only by the single active writer.
    private string? _writeFailure;

    /// <summary>Takes ownership of <paramref name="inner"/> and both cipher states.</summary>
    public NoiseStream(Stream inner, CipherState sender, CipherState receiver)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(sender);
        ArgumentNullException.ThrowIfNull(receiver);
        _inner = inner;
        _sender = sender;
        _receiver = receiver;
    }

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    // Pooled: a read that waits for the transport (one per message received) allocates no state machine box.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        _readGate.Enter();
        try
        {
            if (_readFailure is not null)
            {
                throw new IOException(_readFailure);
            }
            if (buffer.IsEmpty)
            {
                return 0;
            }
            while (true)
            {
                var delivered = DeliverBuffered(buffer.Span);
                if (delivered > 0)
                {
                    return delivered;
                }
                if (!await FillReceiveBufferAsync(cancellationToken).ConfigureAwait(false))
                {
                    return 0;
                }
            }
        }
        finally
        {
            if (_readGate.Exit())
            {
                ReleaseReceiveSide();
            }
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        _writeGate.Enter();
        byte[]? frames = null;
        try
        {
            if (_writeFailure is not null)
            {
                throw new IOException(_writeFailure);
            }
            while (!buffer.IsEmpty)
            {
                var chunkLength = Math.Min(buffer.Length, MaxFramesPerTransportWrite * MaxFramePlaintext);
                // The first chunk is the largest, so one rented buffer serves the whole write.
                frames ??= ArrayPool<byte>.Shared.Rent(EncodedLength(chunkLength));
                var encodedLength = EncodeFrames(buffer.Span[..chunkLength], frames);
                await _inner.WriteAsync(frames.AsMemory(0, encodedLength), cancellationToken).ConfigureAwait(false);
                buffer = buffer[chunkLength..];
            }
        }
        catch (Exception)
        {
            // A frame may have been half-sent or a nonce consumed: the peer could never resynchronise.
            _writeFailure ??= "the noise stream is unusable after a failed write";
            throw;
        }
        finally
        {
            if (frames is not null)
            {
                ArrayPool<byte>.Shared.Return(frames);
            }
            if (_writeGate.Exit())
            {
                _sender.Dispose();
            }
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task FlushAsync(CancellationToken cancellationToken) => _inner.FlushAsync(cancellationToken);

    public override void Flush() => _inner.Flush();

    public override int Read(byte[] buffer, int offset, int count) =>
        throw new NotSupportedException("use ReadAsync; the noise stream is asynchronous only");

    public override void Write(byte[] buffer, int offset, int count) =>
        throw new NotSupportedException("use WriteAsync; the noise stream is asynchronous only");

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            await _inner.DisposeAsync().ConfigureAwait(false);
            CloseGates();
        }
        await base.DisposeAsync().ConfigureAwait(false);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _inner.Dispose();
            CloseGates();
        }
        base.Dispose(disposing);
    }

    private static int EncodedLength(int plaintextLength)
    {
        var frameCount = (plaintextLength + MaxFramePlaintext - 1) / MaxFramePlaintext;
        return plaintextLength + (frameCount * (LengthPrefixSize + IAead.TagSize));
    }

    private int EncodeFrames(ReadOnlySpan<byte> plaintext, Span<byte> destination)
    {
        var written = 0;
        while (!plaintext.IsEmpty)
        {
            var frameLength = Math.Min(plaintext.Length, MaxFramePlaintext);
            var ciphertextLength = _sender.EncryptWithAd(
                ReadOnlySpan<byte>.Empty, plaintext[..frameLength], destination[(written + LengthPrefixSize)..]);
            BinaryPrimitives.WriteUInt16BigEndian(destination[written..], (ushort)ciphertextLength);
            written += LengthPrefixSize + ciphertextLength;
            plaintext = plaintext[frameLength..];
        }
        return written;
    }

    /// <summary>
    /// Hands over decrypted bytes left from an earlier frame, then decrypts as many complete buffered
    /// frames as fit, straight into <paramref name="destination"/> when they fit whole.
    /// </summary>
    private int DeliverBuffered(Span<byte> destination)
    {
        var written = CopyPendingPlaintext(destination);
        while (written < destination.Length && TryTakeFrame(out var frameStart, out var frameLength))
        {
            var ciphertext = _receiveBuffer.AsSpan(frameStart, frameLength);
            if (frameLength - IAead.TagSize <= destination.Length - written)
            {
                written += Decrypt(ciphertext, destination[written..]);
                continue;
            }
            // Too big for the caller: decrypt in place and hand it out over several reads.
            _plaintextStart = frameStart;
            _plaintextEnd = frameStart + Decrypt(ciphertext, ciphertext);
            written += CopyPendingPlaintext(destination[written..]);
        }
        return written;
    }

    private int CopyPendingPlaintext(Span<byte> destination)
    {
        var count = Math.Min(_plaintextEnd - _plaintextStart, destination.Length);
        if (count == 0)
        {
            return 0;
        }
        _receiveBuffer.AsSpan(_plaintextStart, count).CopyTo(destination);
        _plaintextStart += count;
        return count;
    }

    private bool TryTakeFrame(out int frameStart, out int frameLength)
    {
        frameStart = 0;
        frameLength = 0;
        var buffered = _bufferedEnd - _bufferedStart;
        if (buffered < LengthPrefixSize)
        {
            return false;
        }
        var length = BinaryPrimitives.ReadUInt16BigEndian(_receiveBuffer.AsSpan(_bufferedStart));
        if (buffered < LengthPrefixSize + length)
        {
            return false;
        }
        frameStart = _bufferedStart + LengthPrefixSize;
        frameLength = length;
        _bufferedStart = frameStart + length;
        return true;
    }

    private int Decrypt(ReadOnlySpan<byte> ciphertext, Span<byte> destination)
    {
        if (!_receiver.TryDecryptWithAd(ReadOnlySpan<byte>.Empty, ciphertext, destination, out var written))
        {
            _readFailure = "noise frame failed authentication";
            throw new IOException(_readFailure);
        }
        return written;
    }

    /// <summary>Reads more ciphertext from the transport; false at a clean end of stream between frames.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> FillReceiveBufferAsync(CancellationToken cancellationToken)
    {
        _receiveBuffer ??= ArrayPool<byte>.Shared.Rent(ReceiveBufferSize);
        var buffered = _bufferedEnd - _bufferedStart;
        if (buffered == 0)
        {
            _bufferedStart = _bufferedEnd = 0;
        }
        else if (_bufferedStart + MaxFrameWithPrefix > _receiveBuffer.Length)
        {
            // The frame in progress might not fit where it starts: move it to the front.
            _receiveBuffer.AsSpan(_bufferedStart, buffered).CopyTo(_receiveBuffer);
            _bufferedStart = 0;
            _bufferedEnd = buffered;
        }
        var read = await _inner.ReadAsync(_receiveBuffer.AsMemory(_bufferedEnd), cancellationToken).ConfigureAwait(false);
        if (read == 0)
        {
            if (buffered == 0)
            {
                return false;
            }
            _readFailure = "the transport ended in the middle of a noise frame";
            throw new IOException(_readFailure);
        }
        _bufferedEnd += read;
        return true;
    }

    private void CloseGates()
    {
        // An operation still in flight releases its own direction when it finishes.
        if (_readGate.Close())
        {
            ReleaseReceiveSide();
        }
        if (_writeGate.Close())
        {
            _sender.Dispose();
        }
    }

    private void ReleaseReceiveSide()
    {
        _receiver.Dispose();
        if (_receiveBuffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_receiveBuffer);
            _receiveBuffer = null;
        }
    }

    /// <summary>
    /// Admits one operation at a time in one direction, and hands resource release to whichever of
    /// the operation and Dispose finishes last.
    /// </summary>
    private sealed class DirectionGate
    {
        private const int Idle = 0;
        private const int Busy = 1;
        private const int Closed = 2;

        private int _state;

        public void Enter()
        {
            switch (Interlocked.CompareExchange(ref _state, Busy, Idle))
            {
                case Closed:
                    throw new ObjectDisposedException(nameof(NoiseStream));
                case Busy:
                    throw new InvalidOperationException("another operation in the same direction is already in progress on this noise stream");
            }
        }

        /// <summary>True when the stream was disposed meanwhile and the caller must release the direction.</summary>
        public bool Exit() => Interlocked.CompareExchange(ref _state, Idle, Busy) == Closed;

        /// <summary>True when no operation is in flight and the disposer must release the direction.</summary>
        public bool Close() => Interlocked.Exchange(ref _state, Closed) == Idle;
    }
}
