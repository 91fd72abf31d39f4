-- Included (\ir) by the pgTAP files that check what an untrusted caller may
-- do, inside their transaction: a login that is neither superuser, owner nor
-- operator (session_user is what the queue checks: SET ROLE would not do),
-- and pg_temp.sqlstate_as_untrusted(sql), which runs sql as that login and
-- returns the SQLSTATE it raised, or ok.
create role pgtap_untrusted_login;

create function pg_temp.sqlstate_as_untrusted(p_sql text)
returns text
language plpgsql
as $$
begin
    execute 'set local session authorization pgtap_untrusted_login';
    begin
        execute p_sql;
    exception when others then
        execute 'reset session authorization';
        return sqlstate;
    end;
    execute 'reset session authorization';
    return 'ok';
end;
$$;
