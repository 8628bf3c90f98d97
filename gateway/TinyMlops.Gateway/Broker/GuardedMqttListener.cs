using System;
using System.IO;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;
using MQTTnet.Adapter;
using MQTTnet.Diagnostics.Logger;
using MQTTnet.Formatter;
using MQTTnet.Implementations;
using MQTTnet.Server;
using TinyMlops.Gateway.Health;

namespace TinyMlops.Gateway.Broker;

/// <summary>Limits the listener applies before MQTTnet sees a byte.</summary>
/// <param name="MaxConnectBytes">Largest CONNECT packet (the only one a peer may send before it has logged in).</param>
/// <param name="MaxPacketBytes">Largest packet after login.</param>
/// <param name="MaxPendingConnections">Connections accepted but not yet logged in; more are closed at once.</param>
/// <param name="ConnectTimeout">Time a connection has to complete TLS and log in.</param>
/// <param name="MaxPendingPerAddress">Of those, how many may come from one address (so one host cannot take every slot).</param>
public sealed record MqttLimits(int MaxConnectBytes, int MaxPacketBytes, int MaxPendingConnections, TimeSpan ConnectTimeout, int MaxPendingPerAddress = 8);

/// <summary>
/// The embedded broker's TCP (and TLS) listener, in place of MQTTnet's own, which buffers whatever body length a
/// packet claims. Each connection's bytes pass through <see cref="MqttFramingGuard"/>, which reads every packet's
/// fixed header before MQTTnet does and closes the connection when a packet claims more than the limit (a CONNECT of
/// at most <see cref="MqttLimits.MaxConnectBytes"/> before login, <see cref="MqttLimits.MaxPacketBytes"/> after). At
/// most <see cref="MqttLimits.MaxPendingConnections"/> connections may be waiting to log in, each for at most
/// <see cref="MqttLimits.ConnectTimeout"/>, and at most <see cref="MqttLimits.MaxPendingPerAddress"/> of them from one
/// address; so unauthenticated peers can hold at most pending × MaxConnectBytes of the gateway's memory, and one
/// host cannot keep the nodes out. Thread-safe.
/// </summary>
public sealed class GuardedMqttListener(
    IPAddress bindAddress, int plainPort, int tlsPort, X509Certificate2? certificate, MqttLimits limits, GatewayMetrics metrics, ILogger log) : IMqttServerAdapter
{
    private readonly CancellationTokenSource _stop = new();
    private TcpListener? _plain;
    private TcpListener? _tls;
    private MqttServerOptions? _options;
    private IMqttNetLogger? _logger;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<IPAddress, int> _pendingByAddress = new();
    private int _pending;
    private int _disposed;

    /// <inheritdoc />
    public Func<IMqttChannelAdapter, Task>? ClientHandler { get; set; }

    /// <summary>Connections accepted and not yet logged in.</summary>
    public int Pending => Volatile.Read(ref _pending);

    /// <summary>The plain port actually bound (0 when off).</summary>
    public int PlainPort => (_plain?.LocalEndpoint as IPEndPoint)?.Port ?? 0;

    /// <inheritdoc />
    public Task StartAsync(MqttServerOptions options, IMqttNetLogger logger)
    {
        _options = options;
        _logger = logger;
        if (plainPort > 0)
        {
            _plain = Listen(plainPort);
            _ = AcceptLoop(_plain, false);
        }

        if (certificate != null)
        {
            _tls = Listen(tlsPort);
            _ = AcceptLoop(_tls, true);
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task StopAsync()
    {
        if (Volatile.Read(ref _disposed) == 0)
        {
            _stop.Cancel();
        }

        _plain?.Stop();
        _tls?.Stop();
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _stop.Cancel();
            _plain?.Stop();
            _tls?.Stop();
            _stop.Dispose();
        }
    }

    private TcpListener Listen(int port)
    {
        var l = new TcpListener(bindAddress, port);
        l.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        l.Start(backlog: 128);
        return l;
    }

    private async Task AcceptLoop(TcpListener listener, bool tls)
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptSocketAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException && _stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (!_stop.IsCancellationRequested)
            {
                // Out of file descriptors, a transient network error: keep listening rather than go deaf.
                log.LogWarning("MQTT accept failed: {Message}", e.Message);
                try
                {
                    await Task.Delay(100, _stop.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                continue;
            }
            catch (Exception)
            {
                return; // stopping
            }

            IPAddress address = (socket.RemoteEndPoint as IPEndPoint)?.Address ?? IPAddress.None;
            if (Interlocked.Increment(ref _pending) > limits.MaxPendingConnections)
            {
                Interlocked.Decrement(ref _pending);
                metrics.CountRejected("too_many_pending_connections");
                socket.Dispose();
                continue;
            }

            if (_pendingByAddress.AddOrUpdate(address, 1, (_, n) => n + 1) > limits.MaxPendingPerAddress)
            {
                Interlocked.Decrement(ref _pending);
                LeavePending(address);
                metrics.CountRejected("too_many_pending_from_address");
                socket.Dispose();
                continue;
            }

            _ = Task.Run(() => Serve(socket, address, tls));
        }
    }

    private void LeavePending(IPAddress address)
    {
        // Decrement, and drop the entry at zero so the table holds only addresses with connections waiting.
        while (_pendingByAddress.TryGetValue(address, out int n))
        {
            if (n <= 1 ? _pendingByAddress.TryRemove(new System.Collections.Generic.KeyValuePair<IPAddress, int>(address, n)) : _pendingByAddress.TryUpdate(address, n - 1, n))
            {
                return;
            }
        }
    }

    private async Task Serve(Socket socket, IPAddress address, bool tls)
    {
        int released = 0;
        void Release()
        {
            if (Interlocked.Exchange(ref released, 1) == 0)
            {
                Interlocked.Decrement(ref _pending);
                LeavePending(address);
            }
        }

        EndPoint remote = socket.RemoteEndPoint!, local = socket.LocalEndPoint!;
        socket.NoDelay = true;
        Stream stream = new NetworkStream(socket, ownsSocket: true);
        MqttFramingGuard? guard = null;
        using var deadline = new CancellationTokenSource(limits.ConnectTimeout);
        using CancellationTokenRegistration timeout = deadline.Token.Register(() =>
        {
            if (guard?.LoggedIn != true)
            {
                metrics.CountRejected("connect_timeout");
                socket.Dispose(); // TLS or CONNECT not finished in time: the reads in progress fail and MQTTnet lets go
            }
        });
        try
        {
            if (tls)
            {
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                {
                    ServerCertificate = certificate,
                    EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                    EncryptionPolicy = EncryptionPolicy.RequireEncryption,
                    ClientCertificateRequired = false,
                }, deadline.Token).ConfigureAwait(false);
                stream = ssl;
            }

            guard = new MqttFramingGuard(stream, limits.MaxConnectBytes, limits.MaxPacketBytes);
            guard.LoginCompleted += Release;
            guard.Violated += reason =>
            {
                metrics.CountRejected(reason);
                log.LogWarning("closed MQTT connection from {Remote}: {Reason}", remote, reason);
            };

            Func<IMqttChannelAdapter, Task>? handler = ClientHandler;
            if (handler == null)
            {
                return;
            }

            var channel = new MqttTcpChannel(guard, local, remote, null);
            var formatter = new MqttPacketFormatterAdapter(new MqttBufferWriter(_options!.WriterBufferSize, _options.WriterBufferSizeMax));
            using var adapter = new MqttChannelAdapter(channel, formatter, _logger!);
            await handler(adapter).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or AuthenticationException or OperationCanceledException)
        {
            // A peer that went away, failed TLS or broke a limit: nothing to keep.
        }
        catch (Exception e)
        {
            log.LogWarning(e, "MQTT connection from {Remote} ended with an error", remote);
        }
        finally
        {
            Release();
            await stream.DisposeAsync().ConfigureAwait(false);
            socket.Dispose();
        }
    }
}
