using System;
using System.IO;
using System.Threading;
using System.Threading.Tasks;

namespace TinyMlops.Gateway.Broker;

/// <summary>
/// A stream between a peer and MQTTnet that follows the MQTT framing of what the peer sends (fixed header: type
/// byte, then the remaining length as a variable byte integer) and fails the read, before handing MQTTnet the header,
/// when a packet claims more than the limit: the first packet must be a CONNECT of at most
/// <c>maxConnectBytes</c>, later ones at most <c>maxPacketBytes</c>. MQTTnet allocates a packet's body from its
/// header, so a header never reaches it unless its length is acceptable. It also watches the first packet the
/// broker writes, the CONNACK, to learn whether the login succeeded (<see cref="LoginCompleted"/>). One reader and
/// one writer at a time, as MQTTnet uses it.
/// </summary>
public sealed class MqttFramingGuard(Stream inner, int maxConnectBytes, int maxPacketBytes) : Stream
{
    private const int ConnectType = 1;
    private const byte ConnAck = 0x20;

    // Reader state: which fixed-header byte comes next, or how much body is left.
    private bool _inBody;
    private bool _haveType;
    private int _type;
    private long _remaining;
    private int _lengthBytes;
    private int _multiplier = 1;
    private long _length;
    private int _packets;

    // Writer state: the first bytes of the broker's first packet.
    private readonly byte[] _ack = new byte[5];
    private int _ackBytes;
    private int _loggedIn;

    /// <summary>Raised once, when the broker accepted the login (CONNACK with code 0).</summary>
    public event Action? LoginCompleted;

    /// <summary>Raised with a metric reason when a limit was broken (the read then fails).</summary>
    public event Action<string>? Violated;

    /// <summary>True once the broker acknowledged a successful login.</summary>
    public bool LoggedIn => Volatile.Read(ref _loggedIn) == 1;

    /// <inheritdoc />
    public override bool CanRead => true;

    /// <inheritdoc />
    public override bool CanWrite => true;

    /// <inheritdoc />
    public override bool CanSeek => false;

    /// <inheritdoc />
    public override long Length => throw new NotSupportedException();

    /// <inheritdoc />
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    /// <inheritdoc />
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int n = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        Inspect(buffer.Span[..n]);
        return n;
    }

    /// <inheritdoc />
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <inheritdoc />
    public override int Read(byte[] buffer, int offset, int count)
    {
        int n = inner.Read(buffer, offset, count);
        Inspect(buffer.AsSpan(offset, n));
        return n;
    }

    /// <inheritdoc />
    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        WatchAck(buffer.Span);
        await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <inheritdoc />
    public override void Write(byte[] buffer, int offset, int count)
    {
        WatchAck(buffer.AsSpan(offset, count));
        inner.Write(buffer, offset, count);
    }

    /// <inheritdoc />
    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    /// <inheritdoc />
    public override void Flush() => inner.Flush();

    /// <inheritdoc />
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    /// <inheritdoc />
    public override void SetLength(long value) => throw new NotSupportedException();

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }

    /// <inheritdoc />
    public override ValueTask DisposeAsync() => inner.DisposeAsync();

    // Walks the bytes the peer sent; throws (so MQTTnet never sees them) at the first header that breaks a limit.
    private void Inspect(ReadOnlySpan<byte> data)
    {
        int i = 0;
        while (i < data.Length)
        {
            if (_inBody)
            {
                long take = Math.Min(_remaining, data.Length - i);
                _remaining -= take;
                i += (int)take;
                if (_remaining == 0)
                {
                    _inBody = false;
                }

                continue;
            }

            byte b = data[i++];
            if (!_haveType)
            {
                _haveType = true;
                _type = b >> 4;
                _length = 0;
                _lengthBytes = 0;
                _multiplier = 1;
                if (_packets == 0 && _type != ConnectType)
                {
                    Fail("not_connect_first", "the first packet must be CONNECT");
                }

                continue;
            }

            _length += (b & 0x7F) * (long)_multiplier;
            _multiplier *= 128;
            if (++_lengthBytes > 4)
            {
                Fail("malformed_packet_length", "remaining length longer than 4 bytes");
            }

            if ((b & 0x80) != 0)
            {
                continue;
            }

            long limit = _packets == 0 ? maxConnectBytes : maxPacketBytes;
            if (_length > limit)
            {
                Fail(_packets == 0 ? "oversized_connect" : "oversized_packet", $"packet claims {_length} bytes, limit {limit}");
            }

            _packets++;
            _haveType = false;
            _remaining = _length;
            _inBody = _remaining > 0;
        }
    }

    private void Fail(string reason, string detail)
    {
        Violated?.Invoke(reason);
        throw new IOException("MQTT limit: " + detail);
    }

    // The broker's first packet is the CONNACK: type byte, remaining length, acknowledge flags, reason code.
    private void WatchAck(ReadOnlySpan<byte> data)
    {
        if (_ackBytes >= _ack.Length || LoggedIn)
        {
            return;
        }

        int take = Math.Min(data.Length, _ack.Length - _ackBytes);
        data[..take].CopyTo(_ack.AsSpan(_ackBytes));
        _ackBytes += take;
        if (_ack[0] != ConnAck)
        {
            _ackBytes = _ack.Length; // not a CONNACK: nothing to learn
            return;
        }

        int lengthBytes = 1;
        while (lengthBytes < 4 && lengthBytes < _ackBytes && (_ack[lengthBytes] & 0x80) != 0)
        {
            lengthBytes++;
        }

        int codeAt = 1 + lengthBytes + 1;
        if (_ackBytes > codeAt && _ack[codeAt] == 0 && Interlocked.Exchange(ref _loggedIn, 1) == 0)
        {
            LoginCompleted?.Invoke();
        }
    }
}
