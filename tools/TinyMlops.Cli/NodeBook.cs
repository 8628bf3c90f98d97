using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using TinyMlops.Registry;

namespace TinyMlops.Cli;

/// <summary>
/// Where nodes are registered, for <c>flash</c> and <c>nodes</c>: the registry itself (<c>--registry</c>, or the
/// default folder when it exists) or a trainer service's operator API (<c>--trainer URL</c>). Both answer the same.
/// </summary>
internal sealed class NodeBook : IDisposable
{
    private readonly ModelRegistry? _registry;
    private readonly TrainerClient? _trainer;

    private NodeBook(ModelRegistry? registry, TrainerClient? trainer, string location)
    {
        _registry = registry;
        _trainer = trainer;
        Location = location;
    }

    /// <summary>The registry or trainer named, for messages.</summary>
    public string Location { get; }

    /// <summary>
    /// The book <paramref name="o"/> names; without <c>--registry</c> or <c>--trainer</c>, the default registry folder
    /// when <paramref name="optional"/> is false or the folder exists, else null.
    /// </summary>
    public static NodeBook? Open(Options o, bool optional)
    {
        if (TrainerClient.From(o) is { } trainer)
        {
            return new NodeBook(null, trainer, o.Get("trainer")!);
        }

        string? location = o.Get("registry") ?? (!optional || Directory.Exists(ReleaseCommand.DefaultRegistry) ? ReleaseCommand.DefaultRegistry : null);
        if (location == null)
        {
            return null;
        }

        ModelRegistry registry = ModelRegistry.Open(location);
        return new NodeBook(registry, null, registry.Location);
    }

    /// <summary>Node <paramref name="id"/>'s registration, or null.</summary>
    public RegisteredNode? Find(string id) => List().Select(n => n.Node).FirstOrDefault(n => n.Id == id);

    /// <summary>Every registered node with its newest rollout state.</summary>
    public IReadOnlyList<NodeStatus> List() => _trainer?.Get<NodeStatus[]>("api/admin/nodes") ?? _registry!.NodeStatuses();

    /// <summary>Registers a node (<see cref="ModelRegistry.RegisterNode"/>).</summary>
    public RegisteredNode Register(string id, string board, int boardClass, string? gateway, string? site, string keyId)
    {
        if (_trainer != null)
        {
            return _trainer.Post<RegisteredNode>("api/admin/nodes", new TrainerService.NodeRegistration(id, board, boardClass, gateway, site, keyId));
        }

        try
        {
            return _registry!.RegisterNode(id, board, boardClass, gateway, site, keyId);
        }
        catch (InvalidOperationException e)
        {
            throw new CliException(e.Message);
        }
    }

    /// <summary>Removes node <paramref name="id"/>'s registration; false when there was none.</summary>
    public bool Remove(string id) => _trainer?.Delete($"api/admin/nodes/{Uri.EscapeDataString(id)}") ?? _registry!.RemoveNode(id);

    /// <summary>The release a new node of <paramref name="boardClass"/> starts with, or null without a champion.</summary>
    public ChampionRelease? Champion(int boardClass)
    {
        if (_trainer != null)
        {
            return _trainer.Find<ChampionRelease>($"api/admin/champion/{boardClass}");
        }

        try
        {
            return _registry!.ChampionFor(boardClass);
        }
        catch (Releases.ReleaseException e)
        {
            throw new CliException($"the champion of board class {boardClass} in {Location}: {e.Message}");
        }
    }

    public void Dispose()
    {
        _registry?.Dispose();
        _trainer?.Dispose();
    }
}
