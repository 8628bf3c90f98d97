using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net.Sockets;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using MQTTnet;
using MQTTnet.Protocol;
using TinyMlops.Firmware.Core.Wire;
using TinyMlops.Gateway.Alarms;
using TinyMlops.Gateway.Broker;
using TinyMlops.Gateway.Storage;
using Xunit;

namespace TinyMlops.Gateway.Tests;

/// <summary>Runs only where Mosquitto is installed (.ci/run installs it); says so when it is not.</summary>
public sealed class MosquittoFactAttribute : FactAttribute
{
    public MosquittoFactAttribute()
    {
        if (MosquittoTests.Find("mosquitto") == null || MosquittoTests.Find("mosquitto_passwd") == null)
        {
            Skip = "mosquitto and mosquitto_passwd are not installed (apt-get install mosquitto; .ci/run does)";
        }
    }
}

public class MosquittoTests
{
    internal static string? Find(string program) =>
        new[] { "/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin" }.Concat((Environment.GetEnvironmentVariable("PATH") ?? "").Split(':'))
            .Select(d => Path.Combine(d, program)).FirstOrDefault(File.Exists);

    private static void Run(string program, params string[] args)
    {
        using Process p = Process.Start(new ProcessStartInfo(Find(program)!, args) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        p.WaitForExit(10_000);
        Assert.True(p.ExitCode == 0, $"{program} failed: {p.StandardError.ReadToEnd()}");
    }

    [MosquittoFact]
    public async Task Through_a_real_Mosquitto_with_the_ACL_events_are_verified_and_a_node_cannot_act_as_another()
    {
        string dir = Harness.Temp("mosquitto");
        int brokerPort = Harness.FreePort(), http = Harness.FreePort();
        string passwd = Path.Combine(dir, "passwd"), acl = Path.Combine(dir, "acl"), conf = Path.Combine(dir, "mosquitto.conf");
        File.WriteAllText(passwd, "");
        Run("mosquitto_passwd", "-b", passwd, "gateway", "gw-secret");
        foreach ((string node, string password) in Harness.Passwords)
        {
            Run("mosquitto_passwd", "-b", passwd, node, password);
        }

        File.WriteAllText(acl, MosquittoConfig.Acl("gateway"));
        File.WriteAllText(conf, MosquittoConfig.Listener("127.0.0.1", brokerPort, passwd, acl));
        using Process broker = Process.Start(new ProcessStartInfo(Find("mosquitto")!, new[] { "-c", conf }) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        try
        {
            await Harness.Eventually(async () =>
            {
                try
                {
                    using var probe = new TcpClient();
                    await probe.ConnectAsync("127.0.0.1", brokerPort);
                    return true;
                }
                catch (SocketException)
                {
                    return false;
                }
            }, up => up, "mosquitto listening");

            RunningGateway.Prepare(dir);
            Dictionary<string, string?> settings = RunningGateway.Settings(dir, brokerPort, http);
            settings["Gateway:Mqtt:Mode"] = "External";
            settings["Gateway:Mqtt:Host"] = "127.0.0.1";
            settings["Gateway:Mqtt:GatewayUser"] = "gateway";
            settings["Gateway:Mqtt:GatewayPassword"] = "gw-secret";
            WebApplication app = GatewayApp.Build(Array.Empty<string>(), c => c.AddInMemoryCollection(settings), new SimulatedGpioDriver());
            await app.StartAsync();
            try
            {
                INodeLink link = app.Services.GetRequiredService<INodeLink>();
                await Harness.Eventually(() => Task.FromResult(link.IsConnected), up => up, "gateway joined mosquitto and subscribed");

                using IMqttClient node1 = await Harness.ConnectNode(brokerPort, "node-1");
                using IMqttClient node2 = await Harness.ConnectNode(brokerPort, "node-2");
                var verdicts = new ConcurrentQueue<(string Receiver, string Topic, VerdictMessage Verdict)>();
                foreach ((IMqttClient n, string id) in new[] { (node1, "node-1"), (node2, "node-2") })
                {
                    n.ApplicationMessageReceivedAsync += e =>
                    {
                        byte[] p = System.Buffers.BuffersExtensions.ToArray(e.ApplicationMessage.Payload);
                        verdicts.Enqueue((id, e.ApplicationMessage.Topic, (VerdictMessage)WireCodec.Decode(p, 0, p.Length)));
                        return Task.CompletedTask;
                    };
                }

                Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS1, (await node1.SubscribeAsync("tinymlops/node-1/down/#", MqttQualityOfServiceLevel.AtLeastOnce)).Items.Single().ResultCode);
                Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS1, (await node2.SubscribeAsync("tinymlops/node-2/down/#", MqttQualityOfServiceLevel.AtLeastOnce)).Items.Single().ResultCode);
                // Mosquitto grants any subscription and checks read access per message: node-1 listening on node-2's
                // topics (and on every uplink) must receive nothing from them.
                await node1.SubscribeAsync("tinymlops/node-2/down/#", MqttQualityOfServiceLevel.AtLeastOnce);
                await node1.SubscribeAsync("tinymlops/+/down/#", MqttQualityOfServiceLevel.AtLeastOnce);

                // node-1 pretends to be node-2, and tries to send node-2 a verdict: Mosquitto refuses both.
                Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, (await Harness.Publish(node1, "tinymlops/node-2/up/event", Harness.EventFrame(66, 0.9f))).ReasonCode);
                Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, (await Harness.Publish(node1, "tinymlops/node-2/down/verdict", new byte[] { 1 })).ReasonCode);
                // A node may not log in under another's client id: the broker uses the user name.
                await Assert.ThrowsAnyAsync<Exception>(() => Harness.ConnectNode(brokerPort, "node-2", "secret-1"));

                Assert.True((await Harness.Publish(node1, "tinymlops/node-1/up/event", Harness.EventFrame(1, 0.9f))).IsSuccess);
                Assert.True((await Harness.Publish(node2, "tinymlops/node-2/up/event", Harness.EventFrame(2, -0.9f))).IsSuccess);
                await Harness.Eventually(() => Task.FromResult(verdicts.Count), n => n >= 2, "two verdicts through mosquitto");
                await Task.Delay(300);
                // Overlapping subscriptions may deliver a message twice; what counts is who got what.
                var got = verdicts.DistinctBy(v => (v.Receiver, v.Topic, v.Verdict.EventSequence)).OrderBy(v => v.Topic).ToArray();
                Assert.Equal(2, got.Length);
                Assert.All(got, v => Assert.StartsWith($"tinymlops/{v.Receiver}/down/", v.Topic));
                Assert.Equal(("tinymlops/node-1/down/verdict", 1u, "imbalance"), (got[0].Topic, got[0].Verdict.EventSequence, got[0].Verdict.Label));
                Assert.Equal(("tinymlops/node-2/down/verdict", 2u, "healthy"), (got[1].Topic, got[1].Verdict.EventSequence, got[1].Verdict.Label));

                GatewayStore store = app.Services.GetRequiredService<GatewayStore>();
                Assert.Equal(2L, store.Counts().Events);
                Assert.DoesNotContain(store.PendingUplink(10), p => p.Event.Sequence == 66);
            }
            finally
            {
                await app.StopAsync();
                await app.DisposeAsync();
            }
        }
        finally
        {
            broker.Kill();
            broker.WaitForExit(5000);
            Directory.Delete(dir, recursive: true);
        }
    }
}
