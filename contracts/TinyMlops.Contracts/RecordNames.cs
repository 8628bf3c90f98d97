using System;
using System.Globalization;
using TinyMlops.Firmware.Core.Node;

namespace TinyMlops.Contracts;

/// <summary>
/// The one rule for names that travel from nodes through gateways into the trainer's dataset: node and gateway ids,
/// record ids and class labels. The ingestion service writes only names that pass it, and the trainer's dataset
/// reader refuses any that do not, so a name can never change what a recording file means (a newline or
/// <c> label=</c> in a header, a <c>.Wfm</c> ending that makes a folder look like ADI data). Pure functions.
/// </summary>
public static class RecordNames
{
    /// <summary>Longest class label, in characters (the wire format's label limit).</summary>
    public const int MaxLabelLength = 48;

    /// <summary>A node or gateway id: <see cref="Topics.IsValidNodeId"/>.</summary>
    public static bool IsValidId(string? id) => id != null && Topics.IsValidNodeId(id);

    /// <summary>
    /// A class label: 1-48 ASCII letters, digits, '-', '_' or '.', starting with a letter or digit (no spaces,
    /// '=' or line breaks, so it can stand in a <c>key=value</c> header).
    /// </summary>
    public static bool IsValidLabel(string? label)
    {
        if (string.IsNullOrEmpty(label) || label.Length > MaxLabelLength || !char.IsAsciiLetterOrDigit(label[0]))
        {
            return false;
        }

        foreach (char c in label)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The record id of a node's message: <c>{node}-{boot}-{sequence}</c>.</summary>
    public static string MakeRecordId(string node, uint boot, uint sequence) =>
        string.Create(CultureInfo.InvariantCulture, $"{node}-{boot}-{sequence}");

    /// <summary>
    /// True when <paramref name="id"/> is the record id of (<paramref name="node"/>, <paramref name="boot"/>,
    /// <paramref name="sequence"/>), or that id with the gateway's collision suffix (<c>-x</c> and 16 hex digits).
    /// Ids are derived, never free text, so one cannot name another node's record or end in a file extension.
    /// </summary>
    public static bool IsRecordIdOf(string? id, string node, uint boot, uint sequence)
    {
        if (id == null || !IsValidId(node))
        {
            return false;
        }

        string plain = MakeRecordId(node, boot, sequence);
        if (id == plain)
        {
            return true;
        }

        if (id.Length != plain.Length + 18 || !id.StartsWith(plain + "-x", StringComparison.Ordinal))
        {
            return false;
        }

        foreach (char c in id.AsSpan(plain.Length + 2))
        {
            if (!char.IsAsciiHexDigitLower(c))
            {
                return false;
            }
        }

        return true;
    }
}
