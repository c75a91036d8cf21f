using System.Buffers;

namespace Parley.Net.Yamux;

/// <summary>
/// Received-but-unread bytes of one stream: a FIFO of pooled arrays. Large frames are read straight
/// into their own array (<see cref="AppendOwned"/>); small frames are packed into the tail array so a
/// peer sending many tiny frames cannot make us hold far more memory than the window. Not thread-safe.
/// </summary>
internal sealed class YamuxReceiveBuffer
{
    private const int MinimumSegmentSize = 4096;

    private Segment[] _segments = new Segment[4];
    private int _head;
    private int _count;

    public int Length { get; private set; }

    /// <summary>Takes ownership of <paramref name="array"/> (rented from <see cref="ArrayPool{T}.Shared"/>) holding <paramref name="length"/> bytes.</summary>
    public void AppendOwned(byte[] array, int length)
    {
        if (length == 0)
        {
            ArrayPool<byte>.Shared.Return(array);
            return;
        }

        AddSegment(new Segment(array, 0, length));
        Length += length;
    }

    public void Append(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
        {
            return;
        }

        Length += data.Length;
        if (_count > 0)
        {
            ref var tail = ref _segments[(_head + _count - 1) % _segments.Length];
            var copied = Math.Min(tail.Array.Length - tail.End, data.Length);
            data[..copied].CopyTo(tail.Array.AsSpan(tail.End));
            tail.End += copied;
            data = data[copied..];
            if (data.IsEmpty)
            {
                return;
            }
        }

        var array = ArrayPool<byte>.Shared.Rent(Math.Max(data.Length, MinimumSegmentSize));
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
            if (head.Start == head.End)
            {
                ArrayPool<byte>.Shared.Return(head.Array);
                head = default;
                _head = (_head + 1) % _segments.Length;
                _count--;
            }
        }

        Length -= total;
        return total;
    }

    /// <summary>Drops all data and returns the arrays to the pool.</summary>
    public void Clear()
    {
        while (_count > 0)
        {
            ArrayPool<byte>.Shared.Return(_segments[_head].Array);
            _segments[_head] = default;
            _head = (_head + 1) % _segments.Length;
            _count--;
        }

        _head = 0;
        Length = 0;
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
