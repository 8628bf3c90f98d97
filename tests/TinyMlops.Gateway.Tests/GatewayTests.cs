using System;
using System.Collections.Concurrent;
using System.Device.Gpio;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Threading.Tasks;
using MQTTnet;
using MQTTnet.Protocol;
using TinyMlops.Firmware.Core.Node;
using TinyMlops.Firmware.Core.Wire;
using TinyMlops.Gateway.Storage;
using TinyMlops.Gateway.Verification;
using Xunit;

namespace TinyMlops.Gateway.Tests;

public class GatewayTests
{
    [Fact]
    public async Task An_event_is_stored_verified_and_answered_and_a_confirmed_fault_raises_the_alarm()
    {
        await using RunningGateway g = await RunningGateway.Start();
        using IMqttClient node = await Harness.ConnectNode(g.MqttPort, "node-1");
        BlockingCollection<VerdictMessage> verdicts = await Harness.Verdicts(node, "node-1");
        var pins = Alarms.AlarmPins.From(TinyMlops.Boards.BoardProfile.Load("rpi4").AlarmPins);
        Assert.Equal(PinValue.High, g.Gpio.Level(pins.Green));

        MqttClientPublishResult healthy = await Harness.Publish(node, "tinymlops/node-1/up/event", Harness.EventFrame(7, -0.8f));
        MqttClientPublishResult fault = await Harness.Publish(node, "tinymlops/node-1/up/event", Harness.EventFrame(8, 0.9f));
        Assert.True(healthy.IsSuccess && fault.IsSuccess);

        Assert.True(verdicts.TryTake(out VerdictMessage? v1, TimeSpan.FromSeconds(10)));
        Assert.True(verdicts.TryTake(out VerdictMessage? v2, TimeSpan.FromSeconds(10)));
        VerdictMessage[] both = new[] { v1!, v2! }.OrderBy(v => v.EventSequence).ToArray();
        Assert.Equal((7u, "healthy", false), (both[0].EventSequence, both[0].Label, both[0].IsFault));
        Assert.Equal((8u, "imbalance", true), (both[1].EventSequence, both[1].Label, both[1].IsFault));
        Assert.Equal(1u, both[1].VerifierVersion);
        Assert.InRange(both[1].Probability, 0.5f, 1f);

        Assert.Equal(PinValue.High, g.Gpio.Level(pins.Red));
        Assert.Equal(PinValue.Low, g.Gpio.Level(pins.Green));
        Assert.Equal(PinValue.High, g.Gpio.Level(pins.Buzzer));

        (long events, long toVerify, _) = g.Get<GatewayStore>().Counts();
        Assert.Equal((2L, 0L), (events, toVerify));
        string metrics = await g.Metrics();
        Assert.Contains("tinymlops_gateway_events_verified_total 2", metrics);
        Assert.Contains("tinymlops_gateway_node_agreement{node=\"node-1\"} 0.5", metrics);
        Assert.Contains("tinymlops_gateway_verification_latency_ms{quantile=\"0.99\"}", metrics);
        Assert.Contains("tinymlops_gateway_node_last_seen_seconds{node=\"node-1\"}", metrics);
        using var health = await g.Http.GetAsync("health");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    [Fact]
    public async Task Over_TLS_a_node_that_trusts_the_gateway_certificate_is_answered_and_others_cannot_connect()
    {
        string dir = Harness.Temp("tls");
        try
        {
            (string pfx, X509Certificate2 gatewayCertificate) = SelfSigned(dir, "gateway", "pfx-secret");
            (_, X509Certificate2 impostor) = SelfSigned(dir, "impostor", "x");
            int tlsPort = Harness.FreePort();
            await using RunningGateway g = await RunningGateway.Start(tweak: s =>
            {
                s["Gateway:Mqtt:Port"] = "0"; // TLS only: no plain-text listener
                s["Gateway:Mqtt:TlsPort"] = tlsPort.ToString(System.Globalization.CultureInfo.InvariantCulture);
                s["Gateway:Mqtt:CertificateFile"] = pfx;
                s["Gateway:Mqtt:CertificatePassword"] = "pfx-secret";
            });

            MqttClientOptions Options(X509Certificate2? trusted) => new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", tlsPort).WithClientId("node-1")
                .WithCredentials("node-1", Harness.Passwords["node-1"]).WithTimeout(TimeSpan.FromSeconds(10))
                .WithTlsOptions(t =>
                {
                    t.UseTls(trusted != null);
                    if (trusted != null)
                    {
                        t.WithTrustChain(new X509Certificate2Collection(trusted));
                    }
                }).Build();

            using IMqttClient node = new MqttClientFactory().CreateMqttClient();
            Assert.Equal(MqttClientConnectResultCode.Success, (await node.ConnectAsync(Options(gatewayCertificate))).ResultCode);
            BlockingCollection<VerdictMessage> verdicts = await Harness.Verdicts(node, "node-1");
            Assert.True((await Harness.Publish(node, "tinymlops/node-1/up/event", Harness.EventFrame(3, 0.8f))).IsSuccess);
            Assert.True(verdicts.TryTake(out VerdictMessage? verdict, TimeSpan.FromSeconds(10)), "no verdict over TLS");
            Assert.Equal(("imbalance", 3u), (verdict!.Label, verdict.EventSequence));

            // A node pinned to another certificate refuses the gateway; a plain-text client gets no MQTT session.
            foreach (X509Certificate2? trusted in new[] { impostor, null })
            {
                using IMqttClient other = new MqttClientFactory().CreateMqttClient();
                await Assert.ThrowsAnyAsync<Exception>(() => other.ConnectAsync(Options(trusted)));
                Assert.False(other.IsConnected);
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>A self-signed server certificate for 127.0.0.1, as a line without its own CA would make with openssl.</summary>
    private static (string Pfx, X509Certificate2 Certificate) SelfSigned(string dir, string name, string password)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(new OidCollection { new Oid("1.3.6.1.5.5.7.3.1") }, false));
        using X509Certificate2 withKey = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        string pfx = Path.Combine(dir, name + ".pfx");
        File.WriteAllBytes(pfx, withKey.Export(X509ContentType.Pkcs12, password));
        return (pfx, X509CertificateLoader.LoadCertificate(withKey.RawData));
    }

    [Fact]
    public async Task A_node_can_neither_log_in_as_another_nor_publish_or_subscribe_as_another()
    {
        await using RunningGateway g = await RunningGateway.Start();
        await Assert.ThrowsAnyAsync<Exception>(() => Harness.ConnectNode(g.MqttPort, "node-1", "secret-2"));
        await Assert.ThrowsAnyAsync<Exception>(() => Harness.ConnectNode(g.MqttPort, "stranger", "x"));

        using IMqttClient node1 = await Harness.ConnectNode(g.MqttPort, "node-1");
        MqttClientPublishResult spoof = await Harness.Publish(node1, "tinymlops/node-2/up/event", Harness.EventFrame(1, 0.9f));
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, spoof.ReasonCode);
        MqttClientPublishResult down = await Harness.Publish(node1, "tinymlops/node-1/down/verdict", new byte[] { 1, 2, 3 });
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, down.ReasonCode);
        MqttClientSubscribeResult other = await node1.SubscribeAsync("tinymlops/node-2/down/#", MqttQualityOfServiceLevel.AtLeastOnce);
        Assert.Equal(MqttClientSubscribeResultCode.NotAuthorized, other.Items.Single().ResultCode);
        MqttClientSubscribeResult all = await node1.SubscribeAsync("tinymlops/#", MqttQualityOfServiceLevel.AtLeastOnce);
        Assert.Equal(MqttClientSubscribeResultCode.NotAuthorized, all.Items.Single().ResultCode);

        Assert.Equal(0L, g.Get<GatewayStore>().Counts().Events);
        string metrics = await g.Metrics();
        Assert.Contains("tinymlops_gateway_rejected_total{reason=\"foreign_topic\"} 2", metrics);
        Assert.Contains("tinymlops_gateway_rejected_total{reason=\"foreign_subscription\"} 2", metrics);
        Assert.Contains("tinymlops_gateway_rejected_total{reason=\"bad_credentials\"} 2", metrics);
    }

    [Fact]
    public async Task Bad_input_is_refused_with_a_counted_reason_and_the_service_keeps_verifying()
    {
        await using RunningGateway g = await RunningGateway.Start();
        using IMqttClient node = await Harness.ConnectNode(g.MqttPort, "node-1");
        BlockingCollection<VerdictMessage> verdicts = await Harness.Verdicts(node, "node-1");
        string topic = "tinymlops/node-1/up/event";

        byte[] badCrc = Harness.EventFrame(1, 0.5f);
        badCrc[^1] ^= 0xFF;
        byte[] nan = Harness.EventFrame(2, float.NaN);
        byte[] truncated = Harness.EventFrame(3, 0.5f)[..40];
        var oversized = new byte[9000];
        byte[] telemetryOnEventTopic = WireCodec.Encode(new TelemetryMessage { Sequence = 4 });
        byte[] wrongLength = Harness.EventFrame(5, 0.5f, features: Harness.Features + 3);
        foreach (byte[] bad in new[] { new byte[] { 0xde, 0xad }, badCrc, nan, truncated, oversized, telemetryOnEventTopic, wrongLength })
        {
            MqttClientPublishResult r = await Harness.Publish(node, topic, bad);
            Assert.Equal(MqttClientPublishReasonCode.PayloadFormatInvalid, r.ReasonCode);
        }

        Assert.Equal(MqttClientPublishReasonCode.PayloadFormatInvalid, (await Harness.Publish(node, "tinymlops/node-1/up/nonsense", Harness.EventFrame(6, 0.5f))).ReasonCode);
        Assert.True((await Harness.Publish(node, topic, Harness.EventFrame(9, 0.7f))).IsSuccess);
        Assert.True(verdicts.TryTake(out VerdictMessage? v, TimeSpan.FromSeconds(10)));
        Assert.Equal(9u, v!.EventSequence);

        string metrics = await g.Metrics();
        foreach (string reason in new[] { "malformed_truncated", "malformed_bad_checksum", "malformed_bad_field", "oversized", "wrong_message_type", "wrong_feature_count" })
        {
            Assert.Contains($"tinymlops_gateway_rejected_total{{reason=\"{reason}\"}}", metrics);
        }

        Assert.Equal(1L, g.Get<GatewayStore>().Counts().Events);
    }

    [Fact]
    public async Task A_new_verifier_is_swapped_in_and_a_broken_one_is_refused_while_the_old_one_keeps_working()
    {
        await using RunningGateway g = await RunningGateway.Start();
        VerifierHost host = g.Get<VerifierHost>();
        Assert.Equal(1L, host.Current!.Version);

        string staged = g.ModelFile + ".new";
        File.WriteAllBytes(staged, Harness.Verifier(2));
        File.Move(staged, g.ModelFile, overwrite: true);
        await Harness.Eventually(() => Task.FromResult(host.Current!.Version), v => v == 2, "verifier version 2 installed");

        byte[] broken = File.ReadAllBytes(g.ModelFile)[..200];
        File.WriteAllBytes(g.ModelFile, broken);
        await Harness.Eventually(() => g.Metric("tinymlops_gateway_model_load_failures_total"), n => n >= 1, "broken model counted");
        Assert.Equal(2L, host.Current!.Version);

        using IMqttClient node = await Harness.ConnectNode(g.MqttPort, "node-2");
        BlockingCollection<VerdictMessage> verdicts = await Harness.Verdicts(node, "node-2");
        await Harness.Publish(node, "tinymlops/node-2/up/event", Harness.EventFrame(1, 0.9f));
        Assert.True(verdicts.TryTake(out VerdictMessage? v, TimeSpan.FromSeconds(10)));
        Assert.Equal(2u, v!.VerifierVersion);
    }

    [Fact]
    public async Task A_redelivered_event_is_stored_and_verified_once()
    {
        await using RunningGateway g = await RunningGateway.Start();
        using IMqttClient node = await Harness.ConnectNode(g.MqttPort, "node-1");
        byte[] frame = Harness.EventFrame(42, 0.9f);
        for (int i = 0; i < 3; i++)
        {
            Assert.True((await Harness.Publish(node, "tinymlops/node-1/up/event", frame)).IsSuccess);
        }

        await Harness.Eventually(() => g.Metric("tinymlops_gateway_events_verified_total"), n => n == 1, "one verification");
        Assert.Equal(1L, g.Get<GatewayStore>().Counts().Events);
        Assert.Equal(2, await g.Metric("tinymlops_gateway_events_duplicate_total"));
    }
}
