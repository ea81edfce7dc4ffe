"""Operations shared by the admin views and the CLI; they commit."""
