#!/usr/bin/env python3
"""An ordinary XMPP user for Cairn's gateway tests: slixmpp (not our code),
logged into Prosody like Conversations or Gajim would be.

Driven by JSON lines on stdin; reports what happens as JSON lines on stdout.

  {"cmd": "send", "to": JID, "body": TEXT, "markable": BOOL}
                                                    -> {"event": "sent", "id": ...}
  {"cmd": "composing", "to": JID}
  {"cmd": "subscribe", "to": JID}
  {"cmd": "vcard", "to": JID}                       -> {"event": "vcard", "fn": ...}
  {"cmd": "disco", "to": JID}                       -> {"event": "disco", ...}
  {"cmd": "raw", "xml": XML}                        (sent as is)
  {"cmd": "join", "room": JID, "nick": NICK}        -> {"event": "joined", "occupants": [...]}
                                                       or {"event": "join_error", "condition": ...}
  {"cmd": "leave", "room": JID, "nick": NICK}
  {"cmd": "groupchat", "room": JID, "body": TEXT}   -> {"event": "sent", "id": ...}
  {"cmd": "react", "to": JID, "id": ID, "emoji": E}  (E "" takes it back; XEP-0444)
  {"cmd": "correct", "to": JID, "id": ID, "body": TEXT}   (XEP-0308)
  {"cmd": "retract", "to": JID, "id": ID}                 (XEP-0424)
  {"cmd": "reply", "to": JID, "id": ID, "author": JID, "quote": TEXT, "body": TEXT}
                                                    -> {"event": "sent", "id": ...} (XEP-0461)
  {"cmd": "displayed", "to": JID, "id": ID}               (XEP-0333)
  {"cmd": "share", "to": JID, "path": FILE, "type": MIME}
                                -> {"event": "shared", "url": ..., "id": ...}
        (XEP-0363: a slot from upload.localhost, an HTTP PUT, then a message
        whose body and XEP-0066 URL are the file's, as Conversations sends)
  {"cmd": "fetch", "url": URL, "path": FILE}  -> {"event": "fetched", "size": N}
  {"cmd": "quit"}

Events: ready, message (id, body, markable), receipt, chatstate, error,
presence, subscribe, subscribed, groupchat (nick, body, id, delayed),
iq_error; and, for operations on other messages, reaction (id, values),
correction (id, body), retraction (id), reply (id, to, body with the
quote stripped by slixmpp, full), displayed (id).
"""

import asyncio
import json
import logging
import os
import sys
import urllib.request
from xml.etree import ElementTree as ET

import slixmpp


def emit(**event):
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


class User(slixmpp.ClientXMPP):
    def __init__(self, jid, password):
        super().__init__(jid, password)
        # Plain TCP on the test namespace's loopback (Prosody is set up to
        # allow it there); nothing else is reachable from it.
        self.enable_direct_tls = False
        self.enable_starttls = False
        self.enable_plaintext = True
        for plugin in ("xep_0030", "xep_0045", "xep_0054", "xep_0085",
                       "xep_0184", "xep_0199", "xep_0308", "xep_0333", "xep_0424",
                       "xep_0444", "xep_0461", "xep_0066"):
            self.register_plugin(plugin)
        self.plugin["feature_mechanisms"].unencrypted_plain = True
        self.plugin["feature_mechanisms"].unencrypted_scram = True
        self.plugin["xep_0184"].auto_ack = True
        self.plugin["xep_0184"].auto_request = True
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("message", self.on_message)
        self.add_event_handler("groupchat_message", self.on_groupchat)
        # slixmpp's "message" is for messages with a body; reactions,
        # markers and most errors come without one.
        self.add_event_handler("reactions", self.on_bodiless)
        self.add_event_handler("marker_displayed", self.on_bodiless)
        self.add_event_handler("message_error", self.on_bodiless)
        self.add_event_handler("receipt_received", self.on_receipt)
        self.add_event_handler("chatstate", self.on_chatstate)
        self.add_event_handler("presence_available", self.on_presence)
        self.add_event_handler("presence_unavailable", self.on_presence)
        self.add_event_handler("presence_subscribe", self.on_subscribe)
        self.add_event_handler("presence_subscribed", self.on_subscribed)
        self.add_event_handler("disconnected", lambda _: emit(event="disconnected"))

    async def on_start(self, _event):
        self.send_presence()
        await self.get_roster()
        emit(event="ready")
        asyncio.ensure_future(self.read_commands())

    def on_message(self, msg):
        frm = {"from": str(msg["from"].bare)}
        if msg["type"] == "error":
            emit(event="error", id=msg["id"], condition=msg["error"]["condition"],
                 text=msg["error"]["text"], **{"from": str(msg["from"])})
        elif msg["type"] == "groupchat":
            return
        elif self.has(msg, "urn:xmpp:reactions:0", "reactions"):
            emit(event="reaction", id=msg["reactions"]["id"],
                 values=sorted(msg["reactions"].get_values(all_chars=True)), **frm)
        elif self.has(msg, "urn:xmpp:message-retract:1", "retract"):
            emit(event="retraction", id=msg["retract"]["id"], **frm)
        elif self.has(msg, "urn:xmpp:message-correct:0", "replace"):
            emit(event="correction", id=msg["replace"]["id"], body=msg["body"], **frm)
        elif self.has(msg, "urn:xmpp:reply:0", "reply"):
            emit(event="reply", id=msg["reply"]["id"], to=str(msg["reply"]["to"]),
                 body=msg["reply"].strip_fallback_content(), full=msg["body"],
                 msgid=msg["id"], **frm)
        elif self.has(msg, "urn:xmpp:chat-markers:0", "displayed"):
            emit(event="displayed", id=msg["displayed"]["id"], **frm)
        elif msg["body"]:
            emit(event="message", id=msg["id"], body=msg["body"], type=msg["type"],
                 markable=self.has(msg, "urn:xmpp:chat-markers:0", "markable"),
                 oob=msg.xml.findtext("{jabber:x:oob}x/{jabber:x:oob}url") or "", **frm)

    def on_bodiless(self, msg):
        if not msg["body"]:
            self.on_message(msg)

    @staticmethod
    def has(msg, ns, name):
        return msg.xml.find("{%s}%s" % (ns, name)) is not None

    def on_groupchat(self, msg):
        emit(event="groupchat", body=msg["body"], nick=msg["mucnick"],
             room=str(msg["from"].bare), id=msg["id"],
             delayed=bool(msg["delay"]["stamp"]))

    def on_receipt(self, msg):
        emit(event="receipt", id=msg["receipt"], **{"from": str(msg["from"].bare)})

    def on_chatstate(self, msg):
        emit(event="chatstate", state=msg["chat_state"],
             **{"from": str(msg["from"].bare)})

    def on_presence(self, pres):
        if pres["from"].bare == self.boundjid.bare:
            return
        emit(event="presence", type=pres["type"], nick=pres["nick"]["nick"] if "nick" in pres.keys() else "",
             **{"from": str(pres["from"].bare)})

    def on_subscribe(self, pres):
        emit(event="subscribe", **{"from": str(pres["from"].bare)})

    def on_subscribed(self, pres):
        emit(event="subscribed", **{"from": str(pres["from"].bare)})

    async def share(self, c):
        """XEP-0363 by hand (slixmpp's plugin needs aiohttp): a slot, a PUT,
        then the URL as body and as XEP-0066 out-of-band data."""
        ns = "urn:xmpp:http:upload:0"
        with open(c["path"], "rb") as f:
            data = f.read()
        name = os.path.basename(c["path"])
        iq = self.make_iq_get(ito="upload.localhost")
        iq.append(ET.Element("{%s}request" % ns, {
            "filename": name, "size": str(len(data)), "content-type": c["type"]}))
        res = await iq.send(timeout=10)
        slot = res.xml.find("{%s}slot" % ns)
        put = slot.find("{%s}put" % ns)
        url = slot.find("{%s}get" % ns).get("url")
        headers = {h.get("name"): h.text for h in put.findall("{%s}header" % ns)}
        headers["Content-Type"] = c["type"]
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        request = urllib.request.Request(put.get("url"), data=data, method="PUT",
                                         headers=headers)
        loop = asyncio.get_running_loop()
        status = await loop.run_in_executor(
            None, lambda: opener.open(request, timeout=10).status)
        if status not in (200, 201):
            emit(event="command_failed", reason="upload answered %d" % status)
            return
        msg = self.make_message(mto=c["to"], mbody=url, mtype="chat")
        msg["oob"]["url"] = url
        msg["request_receipt"] = True
        msg.send()
        emit(event="shared", url=url, id=msg["id"])

    async def read_commands(self):
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                self.disconnect()
                return
            try:
                await self.command(json.loads(line))
            except Exception as e:  # report, keep going
                emit(event="command_failed", reason=repr(e))

    async def command(self, c):
        cmd = c["cmd"]
        if cmd == "send":
            msg = self.make_message(mto=c["to"], mbody=c["body"], mtype="chat")
            msg["request_receipt"] = True
            if c.get("markable"):
                msg.enable("markable")
            msg.send()
            emit(event="sent", id=msg["id"])
        elif cmd == "composing":
            msg = self.make_message(mto=c["to"], mtype="chat")
            msg["chat_state"] = "composing"
            msg.send()
        elif cmd == "subscribe":
            self.send_presence_subscription(pto=c["to"])
        elif cmd == "vcard":
            try:
                iq = await self.plugin["xep_0054"].get_vcard(c["to"], cached=False, timeout=10)
                emit(event="vcard", fn=iq["vcard_temp"]["FN"], nick=iq["vcard_temp"]["NICKNAME"])
            except slixmpp.exceptions.IqError as e:
                emit(event="iq_error", condition=e.iq["error"]["condition"])
        elif cmd == "disco":
            try:
                info = await self.plugin["xep_0030"].get_info(jid=c["to"], timeout=10)
                q = info["disco_info"]
                emit(event="disco", identities=[list(i) for i in q["identities"]],
                     features=sorted(q["features"]))
            except slixmpp.exceptions.IqError as e:
                emit(event="iq_error", condition=e.iq["error"]["condition"])
        elif cmd == "raw":
            self.send_raw(c["xml"])
        elif cmd == "join":
            try:
                await self.plugin["xep_0045"].join_muc_wait(c["room"], c["nick"], timeout=20)
                emit(event="joined", room=c["room"],
                     occupants=sorted(self.plugin["xep_0045"].get_roster(c["room"])))
            except slixmpp.exceptions.PresenceError as e:
                emit(event="join_error", room=c["room"], condition=e.condition)
        elif cmd == "leave":
            self.plugin["xep_0045"].leave_muc(c["room"], c["nick"])
        elif cmd == "groupchat":
            msg = self.make_message(mto=c["room"], mbody=c["body"], mtype="groupchat")
            msg.send()
            emit(event="sent", id=msg["id"])
        elif cmd == "react":
            emoji = [c["emoji"]] if c["emoji"] else []
            self.plugin["xep_0444"].send_reactions(slixmpp.JID(c["to"]), c["id"], emoji)
        elif cmd == "correct":
            self.plugin["xep_0308"].build_correction(
                c["id"], slixmpp.JID(c["to"]), mbody=c["body"]).send()
        elif cmd == "retract":
            self.plugin["xep_0424"].send_retraction(slixmpp.JID(c["to"]), c["id"])
        elif cmd == "reply":
            msg = self.plugin["xep_0461"].make_reply(
                c["author"], c["id"], fallback=c.get("quote"),
                mto=c["to"], mbody=c["body"], mtype="chat")
            msg.send()
            emit(event="sent", id=msg["id"])
        elif cmd == "displayed":
            self.plugin["xep_0333"].send_marker(
                slixmpp.JID(c["to"]), c["id"], "displayed", mtype="chat")
        elif cmd == "share":
            await self.share(c)
        elif cmd == "fetch":
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            loop = asyncio.get_running_loop()
            data = await loop.run_in_executor(
                None, lambda: opener.open(c["url"], timeout=10).read())
            with open(c["path"], "wb") as f:
                f.write(data)
            emit(event="fetched", size=len(data), url=c["url"])
        elif cmd == "quit":
            self.disconnect()
        else:
            emit(event="command_failed", reason="unknown command " + cmd)


def main():
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    jid, password, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    user = User(jid, password)
    user.connect(host="127.0.0.1", port=port)
    asyncio.get_event_loop().run_until_complete(user.disconnected)


if __name__ == "__main__":
    main()
