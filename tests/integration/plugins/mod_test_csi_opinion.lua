-- Test-only module for the mucjoins integration tests: another module's
-- opinion on CSI, as mod_csi_muc_priorities or mod_csi_grace_period give
-- theirs, at the default priority (0). A message whose body contains
-- "URGENT" is important (true); anything else gets no opinion.

module:hook("csi-is-stanza-important", function (event)
	local stanza = event.stanza;
	if type(stanza) == "table" and stanza.name == "message" then
		local body = stanza:get_child_text("body");
		if body and body:find("URGENT", 1, true) then
			event.reason = "test: another module's opinion";
			return true;
		end
	end
end);
