"""Core tables: chips, leads, conversations, messages, turns, outbox, guidelines, knowledge.

Also creates `sdr_portuguese`, an accent-insensitive Portuguese text-search configuration,
so "instalação" and "instalacao" match the same knowledge documents.

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 04:23:45.976069
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    op.execute("CREATE TEXT SEARCH CONFIGURATION sdr_portuguese (COPY = portuguese)")
    op.execute(
        "ALTER TEXT SEARCH CONFIGURATION sdr_portuguese "
        "ALTER MAPPING FOR hword, hword_part, word WITH unaccent, portuguese_stem"
    )
    op.create_table('chips',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('provider', sa.Text(), nullable=False),
    sa.Column('external_id', sa.Text(), nullable=False),
    sa.Column('phone', sa.Text(), nullable=True),
    sa.Column('name', sa.Text(), nullable=True),
    sa.Column('status', sa.Text(), server_default='active', nullable=False),
    sa.Column('hourly_cap', sa.Integer(), nullable=True),
    sa.Column('daily_cap', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_chips')),
    sa.UniqueConstraint('provider', 'external_id', name=op.f('uq_chips_provider_external_id'))
    )
    op.create_table('guidelines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('do', 'dont')", name=op.f('ck_guidelines_kind')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_guidelines'))
    )
    op.create_table('knowledge_documents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('content_hash', sa.Text(), nullable=False),
    sa.Column('tsv', postgresql.TSVECTOR(), sa.Computed("to_tsvector('sdr_portuguese', coalesce(title, '') || ' ' || coalesce(body, ''))", persisted=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_knowledge_documents')),
    sa.UniqueConstraint('content_hash', name=op.f('uq_knowledge_documents_content_hash'))
    )
    op.create_index('ix_knowledge_documents_tsv', 'knowledge_documents', ['tsv'], unique=False, postgresql_using='gin')
    op.create_table('leads',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('address', sa.Text(), nullable=False),
    sa.Column('phone', sa.Text(), sa.Computed("CASE WHEN address LIKE '+%' THEN address END", persisted=True), nullable=True),
    sa.Column('profile_name', sa.Text(), nullable=True),
    sa.Column('timezone', sa.Text(), server_default='America/Sao_Paulo', nullable=False),
    sa.Column('stage', sa.Text(), nullable=True),
    sa.Column('qualification', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('fit_score', sa.Float(), server_default='0', nullable=False),
    sa.Column('engagement_score', sa.Float(), server_default='0', nullable=False),
    sa.Column('temperature_reasons', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'"), nullable=False),
    sa.Column('engagement_decayed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('opted_out_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('opt_out_text', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_leads')),
    sa.UniqueConstraint('address', name=op.f('uq_leads_address')),
    sa.UniqueConstraint('phone', name=op.f('uq_leads_phone'))
    )
    op.create_table('conversations',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('lead_id', sa.BigInteger(), nullable=False),
    sa.Column('chip_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Text(), server_default='bot', nullable=False),
    sa.Column('paused_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('watermark_id', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('last_inbound_id', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('last_inbound_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('window_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('summary', sa.Text(), nullable=True),
    sa.Column('state', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('version', sa.Integer(), server_default='0', nullable=False),
    sa.Column('last_turn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('bot', 'paused', 'handoff', 'closed')", name=op.f('ck_conversations_status')),
    sa.ForeignKeyConstraint(['chip_id'], ['chips.id'], name=op.f('fk_conversations_chip_id_chips')),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_conversations_lead_id_leads'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversations')),
    sa.UniqueConstraint('lead_id', 'chip_id', name=op.f('uq_conversations_lead_id_chip_id'))
    )
    op.create_index('ix_conversations_pending', 'conversations', ['id'], unique=False, postgresql_where=sa.text('last_inbound_id > watermark_id'))
    op.create_table('turns',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('conversation_id', sa.BigInteger(), nullable=False),
    sa.Column('token', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), server_default='running', nullable=False),
    sa.Column('outcome', sa.Text(), nullable=True),
    sa.Column('base_watermark_id', sa.BigInteger(), nullable=False),
    sa.Column('upto_message_id', sa.BigInteger(), nullable=False),
    sa.Column('analysis', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('reply_text', sa.Text(), nullable=True),
    sa.Column('parts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('queued_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('analysis_ms', sa.Integer(), nullable=True),
    sa.Column('reply_ms', sa.Integer(), nullable=True),
    sa.Column('llm_ms', sa.Integer(), server_default='0', nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('prompt_tokens', sa.Integer(), server_default='0', nullable=False),
    sa.Column('completion_tokens', sa.Integer(), server_default='0', nullable=False),
    sa.Column('cached_tokens', sa.Integer(), server_default='0', nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.CheckConstraint("status IN ('running', 'done', 'superseded', 'stopped', 'failed', 'abandoned', 'empty')", name=op.f('ck_turns_status')),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_turns_conversation_id_conversations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_turns')),
    sa.UniqueConstraint('token', name=op.f('uq_turns_token'))
    )
    op.create_index('ix_turns_conversation_id_id', 'turns', ['conversation_id', 'id'], unique=False)
    op.create_index('uq_turns_running', 'turns', ['conversation_id'], unique=True, postgresql_where=sa.text("status = 'running'"))
    op.create_table('messages',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('provider', sa.Text(), nullable=False),
    sa.Column('provider_message_id', sa.Text(), nullable=True),
    sa.Column('channel_ref', sa.Text(), nullable=False),
    sa.Column('lead_address', sa.Text(), nullable=False),
    sa.Column('profile_name', sa.Text(), nullable=True),
    sa.Column('conversation_id', sa.BigInteger(), nullable=True),
    sa.Column('direction', sa.Text(), nullable=False),
    sa.Column('author', sa.Text(), nullable=False),
    sa.Column('kind', sa.Text(), server_default='text', nullable=False),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('media', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('status', sa.Text(), server_default='received', nullable=False),
    sa.Column('provider_ts', sa.DateTime(timezone=True), nullable=True),
    sa.Column('turn_id', sa.BigInteger(), nullable=True),
    sa.Column('part', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("author IN ('lead', 'bot', 'human')", name=op.f('ck_messages_author')),
    sa.CheckConstraint("direction IN ('in', 'out')", name=op.f('ck_messages_direction')),
    sa.CheckConstraint("status IN ('received', 'orphaned', 'echo', 'queued', 'sent', 'delivered', 'read', 'failed', 'cancelled')", name=op.f('ck_messages_status')),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_messages_conversation_id_conversations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['turn_id'], ['turns.id'], name=op.f('fk_messages_turn_id_turns'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messages')),
    sa.UniqueConstraint('provider', 'provider_message_id', name=op.f('uq_messages_provider_provider_message_id'))
    )
    op.create_index('ix_messages_conversation_id_created_at', 'messages', ['conversation_id', 'created_at'], unique=False)
    op.create_index('ix_messages_unrouted', 'messages', ['id'], unique=False, postgresql_where=sa.text("conversation_id IS NULL AND status = 'received'"))
    op.create_index('uq_messages_turn_part', 'messages', ['turn_id', 'part'], unique=True, postgresql_where=sa.text('turn_id IS NOT NULL'))
    op.create_table('outbox',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('idempotency_key', sa.Text(), nullable=False),
    sa.Column('turn_id', sa.BigInteger(), nullable=True),
    sa.Column('part', sa.Integer(), server_default='0', nullable=False),
    sa.Column('conversation_id', sa.BigInteger(), nullable=False),
    sa.Column('chip_id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.BigInteger(), nullable=True),
    sa.Column('to_address', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), server_default='queued', nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('provider_message_id', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('queued', 'retry', 'sending', 'sent', 'unknown', 'failed', 'cancelled')", name=op.f('ck_outbox_status')),
    sa.ForeignKeyConstraint(['chip_id'], ['chips.id'], name=op.f('fk_outbox_chip_id_chips')),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_outbox_conversation_id_conversations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_outbox_message_id_messages'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['turn_id'], ['turns.id'], name=op.f('fk_outbox_turn_id_turns'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_outbox_idempotency_key'))
    )
    op.create_index('ix_outbox_conversation_id_sending', 'outbox', ['conversation_id'], unique=False, postgresql_where=sa.text("status = 'sending'"))
    op.create_index('ix_outbox_provider_message_id', 'outbox', ['provider_message_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_outbox_provider_message_id', table_name='outbox')
    op.drop_index('ix_outbox_conversation_id_sending', table_name='outbox', postgresql_where=sa.text("status = 'sending'"))
    op.drop_table('outbox')
    op.drop_index('uq_messages_turn_part', table_name='messages', postgresql_where=sa.text('turn_id IS NOT NULL'))
    op.drop_index('ix_messages_unrouted', table_name='messages', postgresql_where=sa.text("conversation_id IS NULL AND status = 'received'"))
    op.drop_index('ix_messages_conversation_id_created_at', table_name='messages')
    op.drop_table('messages')
    op.drop_index('uq_turns_running', table_name='turns', postgresql_where=sa.text("status = 'running'"))
    op.drop_index('ix_turns_conversation_id_id', table_name='turns')
    op.drop_table('turns')
    op.drop_index('ix_conversations_pending', table_name='conversations', postgresql_where=sa.text('last_inbound_id > watermark_id'))
    op.drop_table('conversations')
    op.drop_table('leads')
    op.drop_index('ix_knowledge_documents_tsv', table_name='knowledge_documents', postgresql_using='gin')
    op.drop_table('knowledge_documents')
    op.drop_table('guidelines')
    op.drop_table('chips')
    op.execute("DROP TEXT SEARCH CONFIGURATION IF EXISTS sdr_portuguese")
