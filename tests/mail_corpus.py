"""E-mail messages and texts in other encodings for the parser tests, written with the standard library's `email` package."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime

DATE = datetime(2024, 3, 5, 10, 15, tzinfo=timezone(timedelta(hours=1)))
PLAIN_BODY = (
    "Hi Bob,\n"
    "\n"
    "# not a heading, just a line starting with a hash\n"
    "\n"
    "The harbour dues are attached.\n"
    "\n"
    "Summary\n"
    "=======\n"
    "\n"
    "Dues rise by 4 % in April.\n"
)
REPORT_MD = "# Harbour dues\n\nDues are charged per metre of hull.\n\n## Exemptions\n\nLifeboats pay nothing.\n"
ALERT_HTML = (
    "<html><head><title>Newsletter</title></head><body><h1>Tide alert</h1><p>Spring tides this week.</p>"
    "<table><tr><th>Day</th><th>High water</th></tr><tr><td>Mon</td><td>06:12</td></tr>"
    "<tr><td>Tue</td><td>06:58</td></tr></table></body></html>"
)


def _message(subject: str, sender: str = "Alice Example <alice@example.com>") -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "Bob <bob@example.com>, carol@example.com"
    message["Subject"] = subject
    message["Date"] = format_datetime(DATE)
    return message


def berth_pdf() -> bytes:
    import pymupdf

    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((72, 90), "Berth Schedule", fontsize=22, fontname="helv")
    page.insert_text((72, 130), "The ferry berths at quay four every morning at seven.", fontsize=11)
    return doc.tobytes()


def report_message() -> bytes:
    """Plain text and HTML alternatives, a Markdown and a PDF attachment, an executable and an attached message."""
    message = _message("Harbour dues für 2024")
    message["Cc"] = "Dave <dave@example.com>"
    message.set_content(PLAIN_BODY)
    message.add_alternative("<p>Hi Bob, <b>HTML version</b> of the same text.</p>", subtype="html")
    message.add_attachment(REPORT_MD.encode(), maintype="text", subtype="markdown", filename="dues.md")
    message.add_attachment(berth_pdf(), maintype="application", subtype="pdf", filename="berths.pdf")
    message.add_attachment(b"MZ\x90\x00\x03", maintype="application", subtype="octet-stream", filename="tool.exe")
    earlier = _message("Earlier thread", sender="carol@example.com")
    earlier.set_content("Can we discuss the dues on Friday?\n")
    message.add_attachment(earlier)
    return bytes(message)


def html_only_message() -> bytes:
    message = _message("Tide alert")
    message.set_content(ALERT_HTML, subtype="html")
    return bytes(message)


def latin1_message() -> bytes:
    """Quoted-printable ISO-8859-1 body and an encoded-word subject."""
    return (
        b"From: =?iso-8859-1?q?J=F6rg_M=FCller?= <jorg@example.com>\r\n"
        b"To: bob@example.com\r\n"
        b"Subject: =?iso-8859-1?q?Cr=E8me_br=FBl=E9e?=\r\n"
        b"Date: Tue, 05 Mar 2024 10:15:00 +0100\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n"
        b"\r\n"
        b"Le caf=E9 =E9tait tr=E8s agr=E9able, =E0 bient=F4t.=\r\n"
        b" Fin.\r\n"
    )


def mislabelled_message(charset: str) -> bytes:
    """A Windows-1252 body declared as `charset`."""
    return (
        b"From: a@example.com\r\nSubject: Menu\r\nContent-Type: text/plain; charset=" + charset.encode() + b"\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\nCaf\xe9 cr\xe8me \x96 5 \x80\r\n"
    )


def nested_message(depth: int) -> bytes:
    """A message whose attached message (message/rfc822) attaches another, `depth` levels deep."""
    inner = _message("Level 0")
    inner.set_content("Innermost words.\n")
    for level in range(1, depth + 1):
        outer = _message(f"Level {level}")
        outer.set_content(f"Forwarding level {level - 1}.\n")
        outer.add_attachment(inner)
        inner = outer
    return bytes(inner)


def nested_eml_files(depth: int) -> bytes:
    """Like `nested_message`, but each message is attached as a file `level-N.eml`."""
    inner = _message("Level 0")
    inner.set_content("Innermost words.\n")
    data = bytes(inner)
    for level in range(1, depth + 1):
        outer = _message(f"Level {level}")
        outer.set_content(f"Forwarding level {level - 1}.\n")
        outer.add_attachment(data, maintype="application", subtype="octet-stream", filename=f"level-{level - 1}.eml")
        data = bytes(outer)
    return data


def many_attachments(count: int) -> bytes:
    message = _message("Many files")
    message.set_content("See the attachments.\n")
    for i in range(count):
        message.add_attachment(f"Note number {i}.\n".encode(), maintype="text", subtype="plain", filename=f"n{i}.txt")
    return bytes(message)


def huge_attachment(megabytes: int) -> bytes:
    """A base64 text attachment of `megabytes` MB and a binary one of the same size."""
    message = _message("Logs")
    message.set_content("The logs.\n")
    line = b"2024-03-05 10:15:00 pump 3 pressure nominal\n"
    text = line * (megabytes * 2**20 // len(line))
    message.add_attachment(text, maintype="text", subtype="plain", filename="pump.log.txt")
    message.add_attachment(
        bytes(range(256)) * (megabytes * 2**12), maintype="application", subtype="octet-stream", filename="dump.bin"
    )
    return bytes(message)


def deep_multipart(levels: int) -> bytes:
    """Multipart parts nested `levels` deep around one text part, written by hand."""
    head = b"From: a@example.com\r\nSubject: Deep\r\nMIME-Version: 1.0\r\n"
    opening = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i) for i in range(levels)
    )
    closing = b"".join(b"\r\n--b%d--\r\n" % i for i in reversed(range(levels)))
    return head + opening + b"Content-Type: text/plain\r\n\r\nThe innermost text.\r\n" + closing


def malformed_message() -> bytes:
    """A closing boundary missing, a PDF whose base64 is garbage, an 8-bit Latin-1 subject and a bad date."""
    return (
        b"From: a@example.com\r\n"
        b"Subject: Gr\xfc\xdfe\r\n"
        b"Date: the day after tomorrow\r\n"
        b'Content-Type: multipart/mixed; boundary="zz"\r\n'
        b"\r\n"
        b"--zz\r\n"
        b"Content-Type: text/plain\r\n"
        b"\r\n"
        b"Still readable.\r\n"
        b"--zz\r\n"
        b'Content-Type: application/pdf; name="r.pdf"\r\n'
        b'Content-Disposition: attachment; filename="r.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n"
        b"\r\n"
        b"!!!!not base64 at all\r\n"
    )


def harbour_message() -> bytes:
    """For the pipeline: a body and a Markdown attachment with its own headings."""
    message = _message("Mooring rules")
    message.set_content("Please read the attached mooring rules before the season starts.\n")
    rules = (
        "# Pontoon rules\n\n## Fenders\n\nEvery vessel must hang at least three fenders on the pontoon side "
        "and double its stern lines when a gale warning is issued for the estuary.\n"
    )
    message.add_attachment(rules.encode(), maintype="text", subtype="markdown", filename="mooring.md")
    return bytes(message)


LIGHTHOUSE_TEXT = (
    "Lighthouse log\n"
    "==============\n"
    "\n"
    "Notes kept by the keepers of the north head light since the lamp was electrified.\n"
    "\n"
    "Lamp room\n"
    "---------\n"
    "\n"
    "The keeper trims the wick at dusk and winds the clockwork that turns the Fresnel lens.\n"
)


def utf16_text() -> bytes:
    """UTF-16 (little endian) without a byte order mark, as some Windows tools write it."""
    return LIGHTHOUSE_TEXT.encode("utf-16-le")


PUMP_RST = """=====================
 Pump station manual
=====================

Intro text.

Installation
============

Bolt the pump down.

Wiring
------

Use 2.5 mm² cable::

    # this is a shell comment
    make install

Maintenance
===========

# a line with a hash
Grease monthly.
"""
GARDEN_ORG = """#+TITLE: Garden plan
#+AUTHOR: Ann Gardener
# a comment line
* Beds :outdoor:
Tomatoes go in the south bed.
** TODO Compost
Turn it weekly.
#+BEGIN_SRC sh
# water at dawn
#+END_SRC
* Tools
A spade.
"""
BOILER_ADOC = """= Boiler Guide
:author: Tom Heater
:toc:

Preface text.

== Lighting the pilot

Hold the knob.

[source,bash]
----
# comment in code
----

// a comment
=== Safety

====
An example block.
====
////
hidden comment
////
"""
