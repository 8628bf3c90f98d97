using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Threading.Tasks;
using System.Threading;
using System;
using MQTTnet.Protocol;
using MQTTnet.Server;
using MQTTnet;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TinyMlops.Contracts;
using TinyMlops.Gateway.Configuration;
using TinyMlops.Gateway.Health;
using TinyMlops.Gateway.Intake;

namespace TinyMlops.Gateway.Broker;

/// <summary>
/// MQTTnet's server inside the gateway. Each node logs in with its own password (<see cref="NodeRegistry"/>) and
/// the ACL of <see cref="TopicAcl"/>; a node's event is stored by <see cref="EventIntake"/> before the broker
/// acknowledges it, so an acknowledged event survives the gateway being killed. A message that cannot be stored
/// (full disk) closes the node's connection unacknowledged, and the node sends it again.
/// </summary>
public sealed class EmbeddedBroker(IOptions<GatewayOptions> options, NodeRegistry nodes, EventIntake intake, GatewayMetrics metrics, ILogger<EmbeddedBroker> log)
    : IHostedService, INodeLink, IAsyncDisposable
{
    private const string GatewayClientId = "tinymlops-gateway";
    private readonly LoginThrottle _throttle = new();
    private MqttServer? _server;
    private GuardedMqttListener? _listener;

    /// <summary>The server, once started.</summary>
    public MqttServer? Server => _server;

    /// <inheritdoc />
    public bool IsConnected => _server?.IsStarted == true;

    /// <inheritdoc />
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        MqttOptions o = options.Value.Mqtt;
        X509Certificate2? certificate = o.CertificateFile != null ? X509CertificateLoader.LoadPkcs12FromFile(o.CertificateFile, o.CertificatePassword) : null;

        // MQTTnet's own listener reads any packet length a peer claims; ours enforces the limits first.
        var limits = new MqttLimits(o.MaxConnectBytes, o.MaxPacketBytes, o.MaxPendingConnections, TimeSpan.FromSeconds(o.ConnectTimeoutSeconds));
        _listener = new GuardedMqttListener(IPAddress.Parse(o.BindAddress), o.Port, o.TlsPort, certificate, limits, metrics, log);
        MqttServerOptions serverOptions = new MqttServerFactory().CreateServerOptionsBuilder().WithPersistentSessions(true).WithoutDefaultEndpoint().Build();
        MqttServer server = new MqttServerFactory().CreateMqttServer(serverOptions, new IMqttServerAdapter[] { _listener });
        server.ValidatingConnectionAsync += Validate;
        server.InterceptingPublishAsync += Publish;
        server.InterceptingSubscriptionAsync += Subscribe;
        await server.StartAsync().ConfigureAwait(false);
        _server = server;
        log.LogInformation("embedded MQTT broker on port {Port}{Tls}", o.Port, o.CertificateFile != null ? $" and TLS port {o.TlsPort}" : "");
        if (o.CertificateFile != null && o.Port > 0)
        {
            log.LogWarning("the plain-text MQTT listener on port {Port} is open beside TLS; set Gateway:Mqtt:Port=0 for TLS only", o.Port);
        }
    }

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_server != null)
        {
            await _server.StopAsync(new MqttServerStopOptions()).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async Task PublishAsync(string topic, byte[] payload, CancellationToken cancellationToken)
    {
        MqttServer server = _server ?? throw new InvalidOperationException("the broker is not started");
        MqttApplicationMessage message = new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build();
        if (TopicAcl.TryParseDownlink(topic, out string node))
        {
            // Straight into that node's session: injecting a message makes MQTTnet match its topic against every
            // session's subscriptions, which at a thousand nodes and a verdict per event was the gateway's largest cost.
            MqttSessionStatus session;
            try
            {
                session = await server.GetSessionAsync(node).ConfigureAwait(false);
            }
            catch (InvalidOperationException)
            {
                return; // no session: the node has not connected since the broker started, so no one would receive it
            }

            // Past MQTTnet's per-session limit the oldest queued message gives way, as it did for injected ones.
            session.TryEnqueueApplicationMessage(message, out _);
            return;
        }

        await server.InjectApplicationMessage(new InjectedMqttApplicationMessage(message) { SenderClientId = GatewayClientId }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_server != null)
        {
            await StopAsync(CancellationToken.None).ConfigureAwait(false);
            _server.Dispose();
            _server = null;
        }
    }

    private Task Validate(ValidatingConnectionEventArgs e)
    {
        string address = (e.RemoteEndPoint as IPEndPoint)?.Address.ToString() ?? "?";
        string user = e.UserName ?? "";
        string key = user.Length <= 64 ? user : user[..64]; // longer names are refused anyway; keep the table small
        DateTime now = DateTime.UtcNow;
        if (_throttle.IsBlocked(address, key, now, out _))
        {
            // Refused unchecked: no PBKDF2 work for an address or id that keeps failing.
            e.ReasonCode = MqttConnectReasonCode.ServerBusy;
            metrics.CountRejected("login_throttled");
            return Task.CompletedTask;
        }

        // The hash is checked whatever the ids look like, so a refusal takes as long for an unknown id as for a known one.
        bool passwordOk = nodes.Verify(user, e.Password);
        if (!TopicAcl.NodeMayConnect(e.ClientId, e.UserName) || !passwordOk)
        {
            e.ReasonCode = MqttConnectReasonCode.BadUserNameOrPassword;
            metrics.CountRejected("bad_credentials");
            bool blocked = _throttle.Failed(address, key, now);
            log.LogWarning("refused a connection from {Address}: client '{ClientId}', user '{User}'{Blocked}", address, LogText.Safe(e.ClientId), LogText.Safe(e.UserName), blocked ? "; further attempts are held off" : "");
            return Task.CompletedTask;
        }

        _throttle.Succeeded(address, key);
        return Task.CompletedTask;
    }

    private Task Subscribe(InterceptingSubscriptionEventArgs e)
    {
        if (!TopicAcl.NodeMaySubscribe(e.ClientId, e.TopicFilter.Topic))
        {
            e.ProcessSubscription = false;
            e.Response.ReasonCode = MqttSubscribeReasonCode.NotAuthorized;
            metrics.CountRejected("foreign_subscription");
            log.LogWarning("node {Node} may not subscribe to {Filter}", e.ClientId, LogText.Safe(e.TopicFilter.Topic, 160));
        }

        return Task.CompletedTask;
    }

    private async Task Publish(InterceptingPublishEventArgs e)
    {
        if (e.ClientId == GatewayClientId)
        {
            return; // the gateway's own verdicts and updates
        }

        // Nothing a node sends is routed on: the gateway is its only reader, and it has handled it here.
        e.ProcessPublish = false;
        if (!TopicAcl.NodeMayPublish(e.ClientId, e.ApplicationMessage.Topic))
        {
            e.Response.ReasonCode = MqttPubAckReasonCode.NotAuthorized;
            metrics.CountRejected("foreign_topic");
            log.LogWarning("node {Node} may not publish to {Topic}", e.ClientId, LogText.Safe(e.ApplicationMessage.Topic, 160));
            return;
        }

        IntakeStatus status = await intake.HandleAsync(e.ClientId, e.ApplicationMessage.Topic, e.ApplicationMessage.Payload).ConfigureAwait(false);
        switch (status)
        {
            case IntakeStatus.Rejected:
                e.Response.ReasonCode = MqttPubAckReasonCode.PayloadFormatInvalid;
                break;
            case IntakeStatus.Unavailable:
                e.CloseConnection = true; // no PUBACK: the node keeps the message and sends it again
                break;
        }
    }
}
