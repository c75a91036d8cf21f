using System.Buffers;
using System.Numerics;

namespace Parley.Net.Yamux;

/// <summary>
/// Received-but-unread bytes of one stream: a FIFO of pooled segments. Large payloads are read from
/// the transport straight into the tail segment (<see cref="Reserve"/>/<see cref="Commit"/>); small
/// payloads are copied in. Both pack several frames per segment, so a lagging reader holds a handful
/// of arrays rather than one per frame, and a peer sending tiny frames cannot make us hold much more
/// memory than the window. Not thread-safe: the owning stream serializes calls, but the reserved
/// region is written outside its lock, so nothing here touches it until Commit or CancelReservation.
/// </summary>
internal sealed class YamuxReceiveBuffer
{
    private const int MinimumSegmentSize = 4096;
    private const int LargeSegmentSize = 256 * 1024;

    private Segment[] _segments = new Segment[4];
    private int _head;
    private int _count;
    private bool _reserved;

    public int Length { get; private set; }

    /// <summary>Returns room for <paramref name="length"/> bytes at the end, to be filled and then committed.</summary>
    public Memory<byte> Reserve(int length)
    {
        if (_reserved)
        {
            throw new InvalidOperationException("A reservation is already pending.");
        }

        _reserved = true;
        if (_count > 0)
        {
            ref var tail = ref Tail;
            if (tail.Start == tail.End)
            {
                tail.Start = tail.End = 0;
            }

            if (tail.Array.Length - tail.End >= length)
            {
                return tail.Array.AsMemory(tail.End, length);
            }
        }

        var array = ArrayPool<byte>.Shared.Rent(NextSegmentSize(length));
        AddSegment(new Segment(array, 0, 0));
        return array.AsMemory(0, length);
    }

    public void Commit(int length)
    {
        if (!_reserved)
        {
            throw new InvalidOperationException("No reservation is pending.");
        }

        _reserved = false;
        Tail.End += length;
        Length += length;
    }

    public void CancelReservation() => _reserved = false;

    public void Append(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
        {
            return;
        }

        Length += data.Length;
        if (_count > 0)
        {
            ref var tail = ref Tail;
            var copied = Math.Min(tail.Array.Length - tail.End, data.Length);
            data[..copied].CopyTo(tail.Array.AsSpan(tail.End));
            tail.End += copied;
            data = data[copied..];
            if (data.IsEmpty)
            {
                return;
            }
        }

        var array = ArrayPool<byte>.Shared.Rent(NextSegmentSize(data.Length));
        data.CopyTo(array);
        AddSegment(new Segment(array, 0, data.Length));
    }

    public int Read(Span<byte> destination)
    {
        var total = 0;
        while (_count > 0 && !destination.IsEmpty)
        {
            ref var head = ref _segments[_head];
            var copied = Math.Min(head.End - head.Start, destination.Length);
            head.Array.AsSpan(head.Start, copied).CopyTo(destination);
            head.Start += copied;
            destination = destination[copied..];
            total += copied;
            if (head.Start < head.End || (_count == 1 && _reserved))
            {
                break;
            }

            RemoveHead();
        }

        Length -= total;
        return total;
    }

    /// <summary>Drops all data and returns the segments to the pool, except a tail still being written into.</summary>
    public void Clear()
    {
        while (_count > (_reserved ? 1 : 0))
        {
            RemoveHead();
        }

        if (_count > 0)
        {
            ref var tail = ref Tail;
            tail.Start = tail.End;
        }

        Length = 0;
    }

    /// <summary>
    /// Segments grow with the backlog: a stream holding a little data uses small arrays, one whose
    /// reader lags uses large ones, so few arrays are in flight and the pool keeps up.
    /// </summary>
    private int NextSegmentSize(int needed)
    {
        var backlog = BitOperations.RoundUpToPowerOf2((uint)(Length + needed));
        return Math.Max(needed, (int)Math.Clamp(backlog, MinimumSegmentSize, LargeSegmentSize));
    }

    private ref Segment Tail => ref _segments[(_head + _count - 1) % _segments.Length];

    private void RemoveHead()
    {
        ArrayPool<byte>.Shared.Return(_segments[_head].Array);
        _segments[_head] = default;
        _head = (_head + 1) % _segments.Length;
        _count--;
    }

    private void AddSegment(Segment segment)
    {
        if (_count == _segments.Length)
        {
            var grown = new Segment[_segments.Length * 2];
            for (var i = 0; i < _count; i++)
            {
                grown[i] = _segments[(_head + i) % _segments.Length];
            }

            _segments = grown;
            _head = 0;
        }

        _segments[(_head + _count) % _segments.Length] = segment;
        _count++;
    }

    private struct Segment(byte[] array, int start, int end)
    {
        public byte[] Array = array;
        public int Start = start;
        public int End = end;
    }
}
