using System;
using System.IO;
using System.Linq;
using System.Security.Cryptography.X509Certificates;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MQTTnet;
using MQTTnet.Protocol;
using TinyMlops.Gateway.Configuration;
using TinyMlops.Gateway.Intake;

namespace TinyMlops.Gateway.Broker;

/// <summary>
/// Joins an external broker (e.g. Mosquitto, whose ACL confines each node to its own topics) as the gateway user,
/// with a persistent session subscribed to every node's <c>up/</c> topics. Messages are acknowledged to the broker
/// only after <see cref="EventIntake"/> stored them; one that cannot be stored ends the session unacknowledged so
/// the broker delivers it again. Reconnects with backoff. Thread-safe.
/// </summary>
public sealed class ExternalBrokerLink(IOptions<GatewayOptions> options, EventIntake intake, ILogger<ExternalBrokerLink> log)
    : BackgroundService, INodeLink
{
    private readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();
    private volatile bool _subscribed;

    /// <inheritdoc />
    /// <remarks>Only once the subscription is granted: before that, the broker would drop what nodes send.</remarks>
    public bool IsConnected => _subscribed && _client.IsConnected;

    /// <inheritdoc />
    public async Task PublishAsync(string topic, byte[] payload, CancellationToken cancellationToken)
    {
        MqttApplicationMessage message = new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build();
        await _client.PublishAsync(message, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public override void Dispose()
    {
        _client.Dispose();
        base.Dispose();
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        MqttOptions o = options.Value.Mqtt;
        MqttClientOptionsBuilder b = new MqttClientFactory().CreateClientOptionsBuilder()
            .WithTcpServer(o.Host, o.Port)
            .WithClientId(o.GatewayUser)
            .WithCredentials(o.GatewayUser, o.GatewayPassword)
            .WithCleanSession(false)
            .WithKeepAlivePeriod(TimeSpan.FromSeconds(30));
        if (o.UseTls)
        {
            b = b.WithTlsOptions(t =>
            {
                t.UseTls();
                if (!string.IsNullOrEmpty(o.CaFile))
                {
                    var trust = new X509Certificate2Collection();
                    trust.ImportFromPemFile(o.CaFile);
                    t.WithTrustChain(trust);
                }
            });
        }

        MqttClientOptions clientOptions = b.Build();
        _client.ApplicationMessageReceivedAsync += async e =>
        {
            e.AutoAcknowledge = false;
            IntakeStatus status = await intake.HandleAsync(null, e.ApplicationMessage.Topic, e.ApplicationMessage.Payload).ConfigureAwait(false);
            if (status == IntakeStatus.Unavailable)
            {
                // Not acknowledged: drop the session's connection so the broker redelivers it on reconnect.
                _ = Task.Run(() => _client.DisconnectAsync(new MqttClientDisconnectOptions { Reason = MqttClientDisconnectOptionsReason.UnspecifiedError }));
                return;
            }

            await e.AcknowledgeAsync(CancellationToken.None).ConfigureAwait(false);
        };

        _client.DisconnectedAsync += _ =>
        {
            _subscribed = false;
            return Task.CompletedTask;
        };

        TimeSpan delay = TimeSpan.FromSeconds(1);
        while (!stoppingToken.IsCancellationRequested)
        {
            if (!_client.IsConnected)
            {
                try
                {
                    MqttClientConnectResult result = await _client.ConnectAsync(clientOptions, stoppingToken).ConfigureAwait(false);
                    if (result.ResultCode != MqttClientConnectResultCode.Success)
                    {
                        throw new IOException($"broker refused the gateway: {result.ResultCode}");
                    }

                    MqttClientSubscribeResult granted = await _client.SubscribeAsync(new MqttClientFactory().CreateSubscribeOptionsBuilder().WithTopicFilter("tinymlops/+/up/#", MqttQualityOfServiceLevel.AtLeastOnce).Build(), stoppingToken).ConfigureAwait(false);
                    MqttClientSubscribeResultCode code = granted.Items.Single().ResultCode;
                    if (code > MqttClientSubscribeResultCode.GrantedQoS2)
                    {
                        await _client.DisconnectAsync(cancellationToken: stoppingToken).ConfigureAwait(false);
                        throw new IOException($"broker refused the gateway's subscription to node uplinks: {code}");
                    }

                    _subscribed = true;
                    log.LogInformation("joined broker {Host}:{Port} as {User}", o.Host, o.Port, o.GatewayUser);
                    delay = TimeSpan.FromSeconds(1);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    log.LogWarning("broker {Host}:{Port} not reachable ({Message}); retrying in {Delay} s", o.Host, o.Port, e.Message, delay.TotalSeconds);
                    await Task.Delay(delay, stoppingToken).ConfigureAwait(false);
                    delay = TimeSpan.FromSeconds(Math.Min(30, delay.TotalSeconds * 2));
                    continue;
                }
            }

            await Task.Delay(TimeSpan.FromMilliseconds(500), stoppingToken).ConfigureAwait(false);
        }

        if (_client.IsConnected)
        {
            await _client.DisconnectAsync().ConfigureAwait(false);
        }
    }
}
