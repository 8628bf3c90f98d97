using System;

namespace TinyMlops.Firmware.Host;

/// <summary>Where and how a <see cref="NodeRunner"/> connects and paces. Immutable once the runner starts.</summary>
public sealed class NodeRunnerOptions
{
    /// <summary>Broker host.</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>Broker port.</summary>
    public int Port { get; init; } = 1883;

    /// <summary>MQTT password of the node (its user name is its id).</summary>
    public string Password { get; init; } = "";

    /// <summary>
    /// Samples per sample period of the wall clock: 1 samples as a device does; a replayed recording may run faster
    /// (the sampling thread still hands windows over without waiting for the worker, so a worker that falls a whole
    /// window behind shows as overruns, as it would on the device).
    /// </summary>
    public double Speed { get; init; } = 1;

    /// <summary>Seconds between reconnect attempts.</summary>
    public TimeSpan ReconnectDelay { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Threads to run on, shared by a fleet (null: the runner starts a scheduler of its own).</summary>
    public NodeScheduler? Scheduler { get; init; }

    /// <summary>Sees every message the node publishes and receives (a benchmark's clock); called on MQTT threads.</summary>
    public INodeTraffic? Traffic { get; init; }

    /// <summary>Checks the options; throws <see cref="ArgumentException"/> naming the bad one.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Host))
        {
            throw new ArgumentException("broker host is required");
        }

        if (Port < 1 || Port > 65535)
        {
            throw new ArgumentException($"broker port {Port} is outside 1..65535");
        }

        if (Password.Length == 0)
        {
            throw new ArgumentException("the node needs its MQTT password");
        }

        if (!(Speed > 0 && Speed <= 1000))
        {
            throw new ArgumentException($"speed {Speed} is outside (0, 1000]");
        }

        if (ReconnectDelay <= TimeSpan.Zero)
        {
            throw new ArgumentException("reconnect delay must be positive");
        }
    }
}

/// <summary>
/// Watches a node's MQTT traffic: what it publishes (as it leaves the controller) and what it receives (as it
/// arrives, before the controller sees it). Called from the runner's and MQTTnet's threads at once: implementations
/// must be thread-safe and quick.
/// </summary>
public interface INodeTraffic
{
    /// <summary>Node <paramref name="nodeId"/> publishes <paramref name="payload"/> on <paramref name="topic"/>.</summary>
    void Sent(string nodeId, string topic, byte[] payload);

    /// <summary>Node <paramref name="nodeId"/> receives <paramref name="payload"/> on <paramref name="topic"/>.</summary>
    void Received(string nodeId, string topic, byte[] payload);
}
